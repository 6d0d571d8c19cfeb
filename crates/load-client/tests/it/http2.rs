//! `protocol: http2` against the embedded mock server over h2c: every
//! executor, connections shared by `streams_per_connection` workers, and a
//! server that does not speak HTTP/2.

use std::time::Duration;

use load_client::outcome::ErrorKind;

use crate::util::{self, assert_accounted, case, Fixture};

/// Every executor completes its requests over HTTP/2, each accounted for
/// on both sides, on as many connections as its workers fill.
#[test]
fn every_executor_completes_over_h2_with_exact_accounting() {
    let f = Fixture::new(
        "server:\n  delay: 2ms\nprotocol: http2\ncases:\n\
         \x20 - {name: seq, executor: sequential, requests: 20}\n\
         \x20 - {name: single, executor: single_task, requests: 20}\n\
         \x20 - {name: tasks, executor: tasks, tasks: 8, requests_per_task: 10, streams_per_connection: 4}\n\
         \x20 - {name: cur, executor: tasks, tasks: 6, requests_per_task: 10, streams_per_connection: 3, runtime: current_thread}\n\
         \x20 - {name: burst, executor: unbounded, requests: 50, streams_per_connection: 10}\n\
         \x20 - {name: open, executor: rate, rate: 200/s, duration: 500ms, streams_per_connection: 4}\n\
         \x20 - {name: fresh, executor: tasks, tasks: 4, requests_per_task: 5, connection: per_request}\n\
         \x20 - {name: warm, executor: tasks, tasks: 4, requests_per_task: 5, streams_per_connection: 2, warmup: 8}\n",
    );
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    // Connections each case should open: workers / streams, rounded up;
    // one per request with `per_request`; the warm case warmed its own
    // before the measured phase.
    for (name, connections) in [
        ("seq", Some(1)),
        ("single", Some(1)),
        ("tasks", Some(2)),
        ("cur", Some(2)),
        ("burst", Some(5)),
        ("open", None),
        ("fresh", Some(20)),
        ("warm", Some(0)),
    ] {
        let r = case(&report, name);
        assert_eq!(r.protocol, "http2", "{name}");
        assert!(r.requests > 0, "{name} sent nothing");
        assert_eq!(
            r.ok, r.requests,
            "{name}: {:?} {:?}",
            r.errors, r.first_error
        );
        let server = r.server.expect("embedded server stats");
        assert_eq!(
            server.received,
            r.ok + r.errors.total(),
            "{name}: the server received {}, the client counted {} ok and {} errors",
            server.received,
            r.ok,
            r.errors.total()
        );
        match connections {
            Some(n) => assert_eq!(server.connections, n, "{name}: connections"),
            None => assert!(
                (1..=r.requests).contains(&server.connections),
                "{name}: {} connections",
                server.connections
            ),
        }
    }
    assert_eq!(case(&report, "tasks").streams_per_connection, 4);
}

/// "100 tasks on 10 connections": the server sees 10 connections and the
/// throughput follows the model, min(tasks, C)/D.
#[test]
fn a_hundred_tasks_share_ten_connections_and_follow_the_model() {
    let _alone = util::alone();
    // D = 50 ms, C = 20: 400 requests in 20 waves of 50 ms, 400/s.
    let f = Fixture::new(
        "server:\n  delay: 50ms\n  capacity: 20\nprotocol: http2\nstreams_per_connection: 10\n\
         cases:\n  - {name: hundred, executor: tasks, tasks: 100, requests_per_task: 4}\n",
    );
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    let r = case(&report, "hundred");
    assert_eq!(r.ok, 400, "{:?} {:?}", r.errors, r.first_error);
    let server = r.server.expect("embedded server stats");
    assert_eq!(server.connections, 10);
    assert_eq!(server.received, 400);
    assert!(
        server.peak_in_service <= 20,
        "peak {}",
        server.peak_in_service
    );
    let ratio = r.throughput_vs_model().expect("a model");
    assert!(
        (0.5..=1.1).contains(&ratio),
        "throughput {:.0}/s is {ratio:.2}× the model's 400/s",
        r.throughput
    );
}

/// A plain TCP server that answers anything with an HTTP/1.1 400, as an
/// HTTP/1.1-only server does when it gets the HTTP/2 preface.
fn http1_only_server() -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut scratch = [0u8; 1024];
                if matches!(stream.read(&mut scratch), Ok(n) if n > 0) {
                    let _ = stream.write_all(
                        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                }
            });
        }
    });
    port
}

/// A server that does not speak HTTP/2 gives `invalid_response` for every
/// request in every executor, with the reason and a hint in words.
#[test]
fn a_server_without_http2_is_an_invalid_response_with_a_reason() {
    let port = http1_only_server();
    let f = Fixture::new(&format!(
        "url: http://127.0.0.1:{port}/\nprotocol: http2\nrequest: {{timeout: 5s}}\ncases:\n\
         \x20 - {{name: seq, executor: sequential, requests: 3}}\n\
         \x20 - {{name: single, executor: single_task, requests: 3}}\n\
         \x20 - {{name: tasks, executor: tasks, tasks: 4, requests_per_task: 2, streams_per_connection: 2}}\n\
         \x20 - {{name: burst, executor: unbounded, requests: 4}}\n\
         \x20 - {{name: open, executor: rate, rate: 20/s, duration: 200ms}}\n"
    ));
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    for r in &report.results {
        assert!(r.requests > 0, "{} sent nothing", r.case);
        assert_eq!(
            r.errors.get(ErrorKind::InvalidResponse),
            r.requests,
            "{}: {:?}",
            r.case,
            r.errors
        );
        let first = r.first_error.as_deref().unwrap_or_default();
        assert!(first.contains("h2c"), "{}: first error {first:?}", r.case);
        assert!(r.connect_backoffs > 0, "{}: no back-off", r.case);
    }
    let closing = report.nothing_succeeded().expect("nothing succeeded");
    assert!(closing.contains("first error: HTTP/2"), "{closing}");
}

/// A server that resets connections mid-answer: the requests on them are
/// errors of a connection kind, never lost, and the next requests reopen.
#[test]
fn lost_connections_are_reopened_and_every_request_is_counted() {
    let f = Fixture::new(
        "server:\n  delay: 1ms\n  reset_rate: 0.2\n  seed: 7\nprotocol: http2\ncases:\n\
         \x20 - {name: tasks, executor: tasks, tasks: 8, requests_per_task: 25, streams_per_connection: 4}\n\
         \x20 - {name: open, executor: rate, rate: 200/s, duration: 500ms, streams_per_connection: 4}\n",
    );
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    for r in &report.results {
        let server = r.server.expect("embedded server stats");
        assert!(r.ok > 0, "{}: nothing succeeded: {:?}", r.case, r.errors);
        assert!(
            r.errors.total() > 0,
            "{}: no errors at a 20% reset rate",
            r.case
        );
        assert!(
            server.connections > 2,
            "{}: {} connections: lost ones were not reopened",
            r.case,
            server.connections
        );
        assert!(server.received >= r.ok, "{}", r.case);
    }
}

/// A weighted mix with a data file goes over HTTP/2 too: each entry's
/// requests reach the server as that entry (told apart by the status its
/// path asks for), in every executor that shares connections.
#[test]
fn a_request_mix_with_data_goes_over_h2_entry_by_entry() {
    let f = Fixture::new(
        "server: {}\nprotocol: http2\nstreams_per_connection: 4\nseed: 5\n\
         data: {file: codes.csv, order: shuffle}\n\
         requests:\n\
         \x20 - {name: ok, weight: 6, path: /status/200}\n\
         \x20 - {name: made, weight: 3, method: POST, path: /status/201, body: '{\"x\":1}'}\n\
         \x20 - {name: coded, weight: 1, path: '/status/{{code}}', headers: {x-code: '{{code}}'}}\n\
         cases:\n\
         \x20 - {name: tasks, executor: tasks, tasks: 8, requests_per_task: 100}\n\
         \x20 - {name: open, executor: rate, rate: 400/s, duration: 1s}\n",
    );
    std::fs::write(f.dir.path().join("codes.csv"), "code\n202\n203\n204\n").unwrap();
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    for name in ["tasks", "open"] {
        let total = case(&report, name);
        assert_eq!(total.ok, total.requests, "{name}: {:?}", total.first_error);
        let names: Vec<&str> = total.parts.iter().map(|p| p.request.as_str()).collect();
        assert_eq!(names, ["ok", "made", "coded"], "{name}");
        let part = |n: &str| total.parts.iter().find(|p| p.request == n).unwrap();
        assert_eq!(part("ok").statuses.keys().collect::<Vec<_>>(), [&200]);
        assert_eq!(part("made").statuses.keys().collect::<Vec<_>>(), [&201]);
        let coded = part("coded");
        assert!(coded.requests > 0, "{name}: the 10% entry was never drawn");
        assert!(
            coded.statuses.keys().all(|s| (202..=204).contains(s)),
            "{name}: {:?}",
            coded.statuses
        );
        // What the server answered is exactly what the entries asked for.
        let mut by_status = std::collections::BTreeMap::new();
        for p in &total.parts {
            for (s, n) in &p.statuses {
                *by_status.entry(*s).or_insert(0u64) += n;
            }
        }
        assert_eq!(by_status, total.statuses, "{name}");
        let server = total.server.expect("embedded server stats");
        assert_eq!(server.received, total.requests, "{name}");
    }
}

/// Over `https://` HTTP/2 is negotiated by ALPN (`h2`): against the
/// embedded server with a self-signed certificate, every request of every
/// executor is answered, the requests of a case share their connections,
/// and the server counts the requests it answered exactly.
#[test]
fn http2_over_tls_is_negotiated_by_alpn() {
    let f = Fixture::new(
        "server: {tls: self_signed, delay: 2ms}\nprotocol: http2\ncases:\n\
         \x20 - {name: seq, executor: sequential, requests: 10}\n\
         \x20 - {name: tasks, executor: tasks, tasks: 8, requests_per_task: 10, streams_per_connection: 4}\n\
         \x20 - {name: open, executor: rate, rate: 200/s, duration: 500ms, streams_per_connection: 4}\n",
    );
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    for name in ["seq", "tasks", "open"] {
        let r = case(&report, name);
        assert_eq!(r.protocol, "http2", "{name}");
        assert!(r.requests > 0, "{name} sent nothing");
        assert_eq!(
            r.ok, r.requests,
            "{name}: {:?} {:?}",
            r.errors, r.first_error
        );
        let server = r.server.expect("embedded server stats");
        assert_eq!(server.received, r.ok, "{name}");
    }
    assert_eq!(case(&report, "tasks").server.unwrap().connections, 2);
}
