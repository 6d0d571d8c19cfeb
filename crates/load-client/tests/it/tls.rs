//! HTTPS against the mock server: certificate failures each give their own
//! error kind and a clear first error in every executor, `insecure` works
//! and warns, mutual TLS works and fails clearly without a client
//! certificate, and connections per request show what handshakes cost.
//! Certificates are made here with rcgen: a CA, leaves it signs (valid,
//! expired), a client CA and a client certificate.

use std::path::PathBuf;

use load_client::outcome::ErrorKind;
use load_client::run::RunReport;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};

use crate::util::{assert_accounted, case, Fixture};

/// A certificate authority that can sign leaves.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// A leaf for `names`, for servers or clients, valid now or expired.
    fn leaf(
        &self,
        names: &[&str],
        usage: ExtendedKeyUsagePurpose,
        expired: bool,
    ) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, "leaf");
        params.extended_key_usages = vec![usage];
        if expired {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Every certificate file a test needs, in a temporary folder.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let server_ca = Ca::new("server CA");
        let client_ca = Ca::new("client CA");
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("ca.pem", &server_ca.cert.pem());
        // A CA that is its own server certificate (`openssl req -x509`'s default).
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        write("ca-leaf.pem", &params.self_signed(&key).unwrap().pem());
        write("ca-leaf.key", &key.serialize_pem());
        write("client-ca.pem", &client_ca.cert.pem());
        let server = ExtendedKeyUsagePurpose::ServerAuth;
        let names = ["localhost", "127.0.0.1"];
        let (cert, key) = server_ca.leaf(&names, server.clone(), false);
        write("server.pem", &cert);
        write("server.key", &key);
        let (cert, key) = server_ca.leaf(&names, server, true);
        write("expired.pem", &cert);
        write("expired.key", &key);
        let (cert, key) = client_ca.leaf(&["client"], ExtendedKeyUsagePurpose::ClientAuth, false);
        write("client.pem", &cert);
        write("client.key", &key);
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

/// One case of every executor, a few requests each.
const EVERY_EXECUTOR: &str = "cases:\n\
    \x20 - {name: seq, executor: sequential, requests: 3}\n\
    \x20 - {name: one, executor: single_task, requests: 3}\n\
    \x20 - {name: tasks, executor: tasks, tasks: 3, requests_per_task: 2}\n\
    \x20 - {name: burst, executor: unbounded, requests: 5}\n\
    \x20 - {name: open, executor: rate, rate: 20/s, duration: 500ms}\n";

const EXECUTORS: [&str; 5] = ["seq", "one", "tasks", "burst", "open"];

/// Runs the cases of every executor against a mock server with `server`
/// (YAML flow-mapping fields) and the scenario's `tls` block.
fn run_every_executor(server: &str, tls: &str) -> RunReport {
    let yaml = format!("server: {{{server}}}\ntls: {{{tls}}}\n{EVERY_EXECUTOR}");
    let f = Fixture::new(&yaml);
    let report = f.run().unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_accounted(&report.results);
    report
}

/// Every request of every executor failed with `kind`, and the first
/// error says `why`.
fn assert_all_failed(report: &RunReport, kind: ErrorKind, why: &str) {
    for name in EXECUTORS {
        let r = case(report, name);
        assert!(r.requests > 0, "{name}: nothing sent");
        assert_eq!(r.ok, 0, "{name}: {:?}", r.errors);
        assert_eq!(r.errors.get(kind), r.requests, "{name}: {:?}", r.errors);
        let first = r.first_error.as_deref().unwrap_or_default();
        assert!(
            first.starts_with(kind.as_str()) && first.contains(why),
            "{name}: first error {first:?}, expected {} and {why:?}",
            kind.as_str()
        );
    }
}

fn assert_all_ok(report: &RunReport) {
    for name in EXECUTORS {
        let r = case(report, name);
        assert!(r.requests > 0, "{name}: nothing sent");
        assert_eq!(
            r.ok, r.requests,
            "{name}: {:?} {:?}",
            r.errors, r.first_error
        );
    }
}

fn server_with(pki: &Pki, cert: &str, key: &str) -> String {
    format!("tls_cert: {}, tls_key: {}", pki.p(cert), pki.p(key))
}

#[test]
fn a_wrong_host_name_is_a_certificate_error_in_every_executor() {
    let pki = Pki::new();
    let report = run_every_executor(
        &server_with(&pki, "server.pem", "server.key"),
        &format!("ca: {}, server_name: wrong.example", pki.p("ca.pem")),
    );
    assert_all_failed(
        &report,
        ErrorKind::TlsCertificate,
        "not valid for the server name",
    );
    // A failed handshake goes through the connect back-off.
    assert!(case(&report, "seq").connect_backoffs >= 3);
}

#[test]
fn an_untrusted_certificate_is_a_certificate_error_in_every_executor() {
    let pki = Pki::new();
    // Trusts the client CA only, not the one that signed the server.
    let report = run_every_executor(
        &server_with(&pki, "server.pem", "server.key"),
        &format!("ca: {}", pki.p("client-ca.pem")),
    );
    assert_all_failed(
        &report,
        ErrorKind::TlsCertificate,
        "not signed by a trusted authority",
    );
}

#[test]
fn an_expired_certificate_is_a_certificate_error_in_every_executor() {
    let pki = Pki::new();
    let report = run_every_executor(
        &server_with(&pki, "expired.pem", "expired.key"),
        &format!("ca: {}", pki.p("ca.pem")),
    );
    assert_all_failed(&report, ErrorKind::TlsCertificate, "expired");
}

#[test]
fn a_trusted_certificate_works_in_every_executor() {
    let pki = Pki::new();
    let report = run_every_executor(
        &server_with(&pki, "server.pem", "server.key"),
        &format!("ca: {}", pki.p("ca.pem")),
    );
    assert_all_ok(&report);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    for name in EXECUTORS {
        let r = case(&report, name);
        assert!(r.phases.ttfb.is_some() && r.phases.body.is_some(), "{name}");
    }
}

#[test]
fn insecure_skips_verification_and_says_so() {
    let pki = Pki::new();
    // The same untrusted server as above.
    let f = Fixture::new(&format!(
        "server: {{{}}}\ntls: {{insecure: true}}\n{EVERY_EXECUTOR}",
        server_with(&pki, "server.pem", "server.key")
    ));
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    assert_all_ok(&report);
    assert!(
        report.warnings.iter().any(|w| w.contains("NOT verified")),
        "{:?}",
        report.warnings
    );
    let run_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.out().join("run.json")).unwrap()).unwrap();
    assert_eq!(run_json["tls"]["insecure"], serde_json::Value::Bool(true));
    // The binary prints the warning too.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_load-client"))
        .args(["run", "--quiet", "--only", "seq", "--out"])
        .arg(f.dir.path().join("out2"))
        .arg(&f.scenario)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("warning: tls.insecure: true"), "{stderr}");
}

#[test]
fn mutual_tls_works_with_a_client_certificate_in_every_executor() {
    let pki = Pki::new();
    let report = run_every_executor(
        &format!(
            "{}, tls_client_ca: {}",
            server_with(&pki, "server.pem", "server.key"),
            pki.p("client-ca.pem")
        ),
        &format!(
            "ca: {}, client_cert: {}, client_key: {}",
            pki.p("ca.pem"),
            pki.p("client.pem"),
            pki.p("client.key")
        ),
    );
    assert_all_ok(&report);
}

#[test]
fn mutual_tls_without_a_client_certificate_fails_clearly_in_every_executor() {
    let pki = Pki::new();
    let report = run_every_executor(
        &format!(
            "{}, tls_client_ca: {}",
            server_with(&pki, "server.pem", "server.key"),
            pki.p("client-ca.pem")
        ),
        &format!("ca: {}", pki.p("ca.pem")),
    );
    assert_all_failed(&report, ErrorKind::TlsCertificate, "client certificate");
    // Refused after the client's side of the handshake (TLS 1.3), yet it
    // still goes through the connect back-off.
    assert!(case(&report, "seq").connect_backoffs >= 3);
}

#[test]
fn a_self_signed_embedded_server_is_trusted_without_insecure() {
    let f = Fixture::new(&format!("server: {{tls: self_signed}}\n{EVERY_EXECUTOR}"));
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    assert_all_ok(&report);
    assert!(report.warnings.is_empty());
}

#[test]
fn a_connection_per_request_shows_what_handshakes_cost() {
    let f = Fixture::new(
        "server: {tls: self_signed}\ndefaults: {connection: per_request}\ncases:\n\
         \x20 - {name: fresh, executor: tasks, tasks: 2, requests_per_task: 10}\n\
         \x20 - {name: kept, executor: tasks, tasks: 2, requests_per_task: 10, connection: reuse}\n",
    );
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    let fresh = case(&report, "fresh");
    assert_eq!(fresh.ok, 20, "{:?}", fresh.first_error);
    assert_eq!(fresh.phases.connections_opened, fresh.requests);
    let tls = fresh.phases.tls.expect("handshakes were timed");
    assert!(tls.p50 > 0);
    assert!(fresh.phases.connect.is_some_and(|c| c.p50 > 0));
    let kept = case(&report, "kept");
    assert_eq!(kept.phases.connections_opened, 2, "one per task");
    // The columns are in summary.csv.
    let summary = std::fs::read_to_string(f.out().join("summary.csv")).unwrap();
    let header: Vec<&str> = summary.lines().next().unwrap().split(',').collect();
    for column in [
        "connections_opened",
        "tls_p50_us",
        "tls_p99_us",
        "err_tls_handshake",
        "err_tls_certificate",
    ] {
        assert!(header.contains(&column), "{column} missing from {header:?}");
    }
}

#[test]
fn a_server_that_does_not_speak_tls_is_a_handshake_error() {
    // A plain HTTP mock server, loaded as https://.
    let server = mock_server::EmbeddedServer::start(
        mock_server::ServerConfig {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            ..Default::default()
        }
        .validate()
        .unwrap(),
        1,
    )
    .unwrap();
    let f = Fixture::new(&format!(
        "url: https://127.0.0.1:{}/\ntls: {{insecure: true}}\ncases:\n\
         \x20 - {{name: one, executor: single_task, requests: 2}}\n",
        server.addr().port()
    ));
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    let r = case(&report, "one");
    assert_eq!(r.errors.get(ErrorKind::TlsHandshake), 2, "{:?}", r.errors);
    assert!(
        r.first_error
            .as_deref()
            .is_some_and(|e| e.starts_with("tls_handshake: ")),
        "{:?}",
        r.first_error
    );
}

#[test]
fn the_connection_set_up_exposes_alpn() {
    let settings = mock_server::ServerConfig {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        tls: Some(mock_server::config::TlsMode::SelfSigned),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let server = mock_server::EmbeddedServer::start(settings, 1).unwrap();
    let options = load_client::connect::TlsOptions {
        extra_roots: server.tls_certificate().cloned().into_iter().collect(),
        ..Default::default()
    };
    let tls = load_client::connect::TlsClient::new(&options, "localhost").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let connected = rt
        .block_on(load_client::connect::open(
            server.addr(),
            std::time::Duration::from_secs(5),
            Some(&tls),
        ))
        .unwrap();
    assert_eq!(connected.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert!(connected.tls.is_some());
}

#[test]
fn a_ca_certificate_as_the_servers_own_is_explained() {
    let pki = Pki::new();
    let f = Fixture::new(&format!(
        "server: {{{}}}\ntls: {{ca: {}}}\ncases:\n  - {{name: one, executor: single_task, requests: 1}}\n",
        server_with(&pki, "ca-leaf.pem", "ca-leaf.key"),
        pki.p("ca-leaf.pem")
    ));
    let report = f.run().unwrap();
    let r = case(&report, "one");
    assert_eq!(r.errors.get(ErrorKind::TlsCertificate), 1, "{:?}", r.errors);
    let first = r.first_error.as_deref().unwrap_or_default();
    assert!(first.contains("CA:TRUE"), "{first}");
}

#[test]
fn https_is_loopback_only_like_http() {
    let f = Fixture::new(
        "url: https://192.0.2.1:8443/\ncases:\n  - {name: one, executor: single_task, requests: 1}\n",
    );
    let e = f.run().unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("not a loopback address"), "{e}");
}
