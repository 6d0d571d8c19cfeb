//! Integration tests of the load client: the real embedded mock server on a
//! free port, driven through the client's public entry point.

use std::time::Duration;

use load_client::outcome::ErrorKind;

use crate::util::{self, assert_accounted, case, closed_port, Fixture};

#[test]
fn executors_follow_the_queueing_model() {
    let _alone = util::alone();
    // D = 100 ms, C = 2.
    let f = Fixture::new(
        "server:\n  delay: 100ms\n  capacity: 2\ncases:\n\
         \x20 - {name: seq, executor: sequential, requests: 3}\n\
         \x20 - {name: single, executor: single_task, requests: 3}\n\
         \x20 - {name: six, executor: tasks, tasks: 6, requests_per_task: 1}\n\
         \x20 - {name: cur, executor: tasks, tasks: 2, requests_per_task: 2, runtime: current_thread}\n\
         \x20 - {name: burst, executor: unbounded, requests: 4}\n",
    );
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    // Expected walls: 3·D, 3·D, ⌈6/2⌉·D, 2·D, ⌈4/2⌉·D.
    for (name, waves) in [
        ("seq", 3.0),
        ("single", 3.0),
        ("six", 3.0),
        ("cur", 2.0),
        ("burst", 2.0),
    ] {
        let r = case(&report, name);
        let expected = waves * 0.1;
        assert_eq!(r.errors.total(), 0, "{name}: {:?}", r.errors);
        assert!(
            r.wall_seconds >= expected * 0.95 && r.wall_seconds < expected + 0.4,
            "{name}: wall {:.3}s, model {expected:.3}s",
            r.wall_seconds
        );
        let server = r.server.expect("embedded server stats");
        assert!(
            server.peak_in_service <= 2,
            "{name}: peak {}",
            server.peak_in_service
        );
        let model_wall = r.model.and_then(|m| m.wall).unwrap().as_secs_f64();
        assert!(
            (model_wall - expected).abs() < 1e-9,
            "{name}: model wall {model_wall}"
        );
    }
    assert_eq!(case(&report, "six").server.unwrap().peak_in_service, 2);
}

#[test]
fn open_loop_reports_a_stall_as_latency() {
    // The server takes 50 ms and the client may keep one request in flight,
    // so it can send 20/s of the intended 100/s: sends fall behind and the
    // latency measured from the intended time grows far past the 50 ms
    // service time, which stays flat.
    let f = Fixture::new(
        "server:\n  delay: 50ms\ncases:\n\
         \x20 - {name: open, executor: rate, rate: 100/s, duration: 1s, max_in_flight: 1}\n",
    );
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    let r = case(&report, "open");
    let corrected = r.latency.unwrap();
    let service = r.service.unwrap();
    assert!(
        service.p50 >= 50_000 && service.p50 < 150_000,
        "service p50 {}",
        service.p50
    );
    assert!(
        corrected.p99 > 4 * service.p99,
        "corrected p99 {} vs service p99 {}",
        corrected.p99,
        service.p99
    );
    assert!(r.late_sends > 0);
    assert!(
        r.skipped_sends > 0,
        "the client could not keep up, so sends were skipped"
    );
}

#[test]
fn open_loop_below_capacity_keeps_its_rate() {
    let f = Fixture::new(
        "server:\n  delay: 10ms\ncases:\n\
         \x20 - {name: open, executor: rate, rate: 200/s, duration: 1s}\n",
    );
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    let r = case(&report, "open");
    assert_eq!(r.requests, 200);
    assert_eq!(r.skipped_sends, 0);
    assert!(
        r.achieved_rate > 150.0 && r.achieved_rate < 210.0,
        "achieved {}",
        r.achieved_rate
    );
    let util = r.model.unwrap().utilisation.unwrap();
    assert_eq!(util, 0.0, "unlimited capacity never saturates");
}

#[test]
fn errors_are_counted_by_kind() {
    let f = Fixture::new(
        "server:\n  delay: 1s\n  error_rate: 0.0\ncases:\n\
         \x20 - {name: slow, executor: tasks, tasks: 2, requests_per_task: 1}\n\
         request:\n  timeout: 200ms\n",
    );
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    assert_eq!(
        case(&report, "slow").errors.get(ErrorKind::RequestTimeout),
        2
    );

    let f = Fixture::new(
        "server:\n  error_rate: 1.0\n  error_status: 503\ncases:\n\
         \x20 - {name: fail, executor: tasks, tasks: 2, requests_per_task: 3}\n",
    );
    let report = f.run().unwrap();
    let r = case(&report, "fail");
    assert_accounted(&report.results);
    assert_eq!(r.errors.get(ErrorKind::Http5xx), 6);
    assert_eq!(r.statuses.get(&503), Some(&6));

    let f = Fixture::new(
        "server:\n  reset_rate: 1.0\ncases:\n\
         \x20 - {name: reset, executor: single_task, requests: 3}\n",
    );
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    assert_eq!(case(&report, "reset").errors.get(ErrorKind::Reset), 3);
}

#[test]
fn overflow_rejections_show_on_both_sides() {
    // 1 served + 1 queued at a time; the other 8 are refused with 503 at once.
    let f = Fixture::new(
        "server:\n  delay: 200ms\n  capacity: 1\n  queue: 1\n  overflow: reject\ncases:\n\
         \x20 - {name: burst, executor: unbounded, requests: 10}\n",
    );
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    let r = case(&report, "burst");
    assert_eq!(r.ok, 2);
    assert_eq!(r.errors.get(ErrorKind::Http5xx), 8);
    let server = r.server.unwrap();
    assert_eq!(server.rejected, 8);
    assert_eq!(server.peak_in_service, 1);
    assert_eq!(server.received, 10);
}

#[test]
fn a_closed_port_gives_connect_errors_files_and_exit_3() {
    let f = Fixture::new(&format!(
        "url: http://127.0.0.1:{}/\ncases:\n  - {{name: nobody, executor: tasks, tasks: 2, requests_per_task: 2}}\n",
        closed_port()
    ));
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    assert_eq!(
        case(&report, "nobody")
            .errors
            .get(ErrorKind::ConnectRefused),
        4
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_load-client"))
        .args(["run", "--quiet", "--out"])
        .arg(f.dir.path().join("cli-out"))
        .arg(&f.scenario)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in ["summary.csv", "nobody.hgrm", "run.json"] {
        assert!(
            f.dir.path().join("cli-out").join(file).is_file(),
            "{file} missing"
        );
    }
}

#[test]
fn remote_targets_need_allow_remote() {
    let f = Fixture::new(
        "url: http://192.0.2.1:8080/\ncases:\n  - {name: a, executor: single_task, requests: 1}\n",
    );
    let err = f.run().unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("--allow-remote"), "{err}");
}

#[test]
fn files_are_written_and_parse_back() {
    let f = Fixture::new(
        "server:\n  delay: 5ms\ncases:\n\
         \x20 - {name: a, executor: tasks, tasks: 4, requests_per_task: 25}\n",
    );
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    let out = f.out();
    let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        load_client::results::csv_header()
    );
    let row = reader.records().next().unwrap().unwrap();
    let get = |name: &str| {
        row.get(headers.iter().position(|h| h == name).unwrap())
            .unwrap()
            .to_string()
    };
    assert_eq!(get("schema_version"), "3");
    assert_eq!(get("requests"), "100");
    assert_eq!(get("ok"), "100");
    let p50: u64 = get("lat_p50_us").parse().unwrap();
    assert!(p50 >= 5_000, "p50 {p50}us below the 5 ms delay");
    let hgrm = std::fs::read_to_string(out.join("a.hgrm")).unwrap();
    let rows = load_client::results::hgrm::parse_hgrm(&hgrm).unwrap();
    assert_eq!(rows.last().unwrap().2, 100);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(json["interrupted"], false);
    assert_eq!(json["target"], "embedded");
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");
}

#[test]
fn duration_bounded_cases_stop_on_time() {
    let f = Fixture::new(
        "server:\n  delay: 10ms\ncases:\n\
         \x20 - {name: t, executor: tasks, tasks: 3, duration: 500ms}\n",
    );
    let started = std::time::Instant::now();
    let report = f.run().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_accounted(&report.results);
    let r = case(&report, "t");
    assert!(
        r.wall_seconds >= 0.5 && r.wall_seconds < 1.5,
        "wall {}",
        r.wall_seconds
    );
    // 3 tasks × 500 ms / 10 ms ≈ 150 requests; allow for a slow machine.
    assert!(r.ok > 30 && r.ok <= 160, "ok {}", r.ok);
}

/// A raw TCP server that answers every request with `answer` and closes
/// the connection, for as long as the test runs.
fn scripted_server(answer: &'static [u8]) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&byte[..n]),
                    }
                }
                let _ = stream.write_all(answer);
            });
        }
    });
    port
}

/// Every executor classifies the same answer the same way: one table of
/// answers (hostile ones and two plain ones that show the table can tell
/// them apart), each sent through all five executors.
#[test]
fn every_executor_classifies_hostile_answers_alike() {
    let invalid = Some(ErrorKind::InvalidResponse);
    let table: [(&str, &'static [u8], Option<ErrorKind>); 8] = [
        ("plain 200", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", None),
        ("plain 404", b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n", Some(ErrorKind::Http4xx)),
        ("status 999", b"HTTP/1.1 999 Odd\r\ncontent-length: 0\r\n\r\n", invalid),
        ("status 099", b"HTTP/1.1 099 Odd\r\ncontent-length: 0\r\n\r\n", invalid),
        (
            "conflicting content-length",
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nokk",
            invalid,
        ),
        (
            "content-length with transfer-encoding",
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
            invalid,
        ),
        ("not HTTP", b"SSH-2.0-OpenSSH_9.2\r\n\r\n", invalid),
        ("bad chunk size", b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", invalid),
    ];
    for (what, answer, expected) in table {
        let port = scripted_server(answer);
        let f = Fixture::new(&format!(
            "url: http://127.0.0.1:{port}/\nrequest: {{timeout: 5s}}\ncases:\n\
             \x20 - {{name: seq, executor: sequential, requests: 3}}\n\
             \x20 - {{name: single, executor: single_task, requests: 3}}\n\
             \x20 - {{name: tasks, executor: tasks, tasks: 2, requests_per_task: 2}}\n\
             \x20 - {{name: burst, executor: unbounded, requests: 4}}\n\
             \x20 - {{name: open, executor: rate, rate: 50/s, duration: 200ms}}\n"
        ));
        let report = match f.run() {
            Ok(report) => report,
            Err(e) => panic!("{what}: the run failed: {e}"),
        };
        assert_accounted(&report.results);
        for r in &report.results {
            assert!(r.requests > 0, "{what}: {} sent nothing", r.case);
            match expected {
                None => assert_eq!(r.ok, r.requests, "{what}: {}: {:?}", r.case, r.errors),
                Some(kind) => assert_eq!(
                    r.errors.get(kind),
                    r.requests,
                    "{what}: {} should count every request as {}: {:?}",
                    r.case,
                    kind.as_str(),
                    r.errors
                ),
            }
        }
    }
}

/// `warmup` requests reach the server but not the case's server columns,
/// and a warm-up of 10 sends 10, however many workers share it.
#[test]
fn warmup_is_exact_and_stays_out_of_the_server_columns() {
    let f = Fixture::new(
        "server:\n  delay: 5ms\ndefaults:\n  warmup: 10\ncases:\n\
         \x20 - {name: single, executor: single_task, requests: 20}\n\
         \x20 - {name: tasks, executor: tasks, tasks: 64, requests_per_task: 2}\n\
         \x20 - {name: burst, executor: unbounded, requests: 300}\n\
         \x20 - {name: open, executor: rate, rate: 200/s, duration: 500ms}\n",
    );
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    let mut received_total = 0;
    for r in &report.results {
        let server = r.server.expect("embedded server stats");
        assert_eq!(
            server.received, r.requests,
            "{}: the server saw {} requests in the measured phase, the client sent {}",
            r.case, server.received, r.requests
        );
        received_total += server.received;
    }
    assert!(received_total > 0);
}

/// A `url:` with a path and query loads that path and query, and says so.
#[test]
fn the_url_is_loaded_as_written() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut byte) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&byte[..n]),
                }
            }
            let text = String::from_utf8_lossy(&head).into_owned();
            seen2.lock().unwrap().push(text);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    let f = Fixture::new(&format!(
        "url: http://127.0.0.1:{port}/api/users?x=1\ncases:\n\
         \x20 - {{name: one, executor: single_task, requests: 2}}\n"
    ));
    let report = f.run().unwrap();
    assert_eq!(case(&report, "one").ok, 2);
    let url = format!("http://127.0.0.1:{port}/api/users?x=1");
    assert_eq!(report.target, url);
    let heads = seen.lock().unwrap().clone();
    assert_eq!(heads.len(), 2, "{heads:?}");
    for head in heads {
        assert!(
            head.starts_with("GET /api/users?x=1 HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(
            head.contains(&format!("host: 127.0.0.1:{port}\r\n")),
            "{head}"
        );
    }
    let run_json = std::fs::read_to_string(f.out().join("run.json")).unwrap();
    assert!(
        run_json.contains(&format!("\"target\": \"{url}\"")),
        "{run_json}"
    );
}

/// When every answer is an error status, the message says which.
#[test]
fn all_error_statuses_are_named_not_blamed_on_the_server_being_down() {
    let f = Fixture::new(
        "server:\n  delay: 0ms\nrequest: {path: /status/404}\ncases:\n\
         \x20 - {name: one, executor: single_task, requests: 5}\n",
    );
    let report = f.run().unwrap();
    let what = report.nothing_succeeded().expect("nothing succeeded");
    assert_eq!(
        what,
        "not a single request succeeded: all 5 were answered with an error status (5 got 404)"
    );
    let f = Fixture::new(&format!(
        "url: http://127.0.0.1:{}/\ncases:\n  - {{name: one, executor: single_task, requests: 3}}\n",
        closed_port()
    ));
    let what = f
        .run()
        .unwrap()
        .nothing_succeeded()
        .expect("nothing succeeded");
    assert!(
        what.starts_with(
            "not a single request succeeded (connect_refused=3 of 3); is the server running?; \
             first error: connect_refused: connect to 127.0.0.1:"
        ),
        "{what}"
    );
}

/// A closed loop against a dead server backs off instead of spinning.
#[test]
fn a_dead_server_is_retried_with_back_off() {
    let f = Fixture::new(&format!(
        "url: http://127.0.0.1:{}/\ncases:\n  - {{name: dead, executor: tasks, tasks: 4, duration: 1s}}\n",
        closed_port()
    ));
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    let r = case(&report, "dead");
    assert_eq!(r.errors.get(ErrorKind::ConnectRefused), r.requests);
    assert_eq!(r.connect_backoffs, r.requests);
    // 5 ms doubling to 200 ms: about 10 connects per worker in a second
    // (without the back-off, tens of thousands).
    assert!(
        (4..=4 * 20).contains(&r.requests),
        "{} connects in 1 s",
        r.requests
    );
}

#[test]
fn ipv4_mapped_loopback_is_loopback() {
    let uri: http::Uri = "http://[::ffff:127.0.0.1]:9/".parse().unwrap();
    load_client::run::resolve(&uri, false).expect("::ffff:127.0.0.1 is loopback");
    let uri: http::Uri = "http://user:secret@127.0.0.1:9/".parse().unwrap();
    let (_, authority) = load_client::run::resolve(&uri, false).unwrap();
    assert_eq!(
        authority, "127.0.0.1:9",
        "the Host header carries no credentials"
    );
}

/// Sends a stop while requests are stuck in a slow server: what the
/// schedule planned but never sent is reported as skipped.
#[test]
fn an_interrupted_open_loop_counts_its_skipped_sends() {
    use load_client::executor::{run_case, Stop};
    use std::sync::Arc;
    let server = mock_server::EmbeddedServer::start(
        mock_server::ServerConfig {
            delay: Some("10s".parse().unwrap()),
            listen: Some("127.0.0.1:0".parse().unwrap()),
            ..Default::default()
        }
        .validate()
        .unwrap(),
        1,
    )
    .unwrap();
    let text = format!(
        "url: http://{}/\ncases:\n  - {{name: open, executor: rate, rate: 50/s, duration: 3s}}\n",
        server.addr()
    );
    let scenario =
        load_client::scenario::parse(std::path::Path::new("t.yaml"), &text, &[], &[]).unwrap();
    let endpoint = Arc::new(load_client::http::Endpoint {
        addr: server.addr(),
        authority: server.addr().to_string(),
        request: scenario.request.clone(),
        mix: scenario.mix.clone(),
        connection: Default::default(),
        protocol: Default::default(),
        streams_per_connection: std::num::NonZeroU32::MIN,
        backoffs: Default::default(),
        tls: None,
        first_error: Default::default(),
    });
    let stop = Arc::new(Stop::default());
    let stopper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            stop.trigger();
        })
    };
    let m = run_case(
        &scenario.cases[0],
        endpoint,
        Default::default(),
        stop,
        None,
        Default::default(),
    )
    .unwrap();
    stopper.join().unwrap();
    assert!(
        m.launched > 0 && m.launched < 150,
        "launched {}",
        m.launched
    );
    assert_eq!(
        m.launched + m.skipped,
        150,
        "launched {} + skipped {}",
        m.launched,
        m.skipped
    );
    assert!(m.wall < Duration::from_secs(3), "wall {:?}", m.wall);
    server.shutdown(Duration::from_millis(100));
}

/// After a stall the open loop's pool has grown; once the server is fast
/// again, idle workers retire and close their connections.
#[test]
fn the_open_loop_pool_shrinks_after_a_stall() {
    // The pool's size follows how late sends are, which other tests'
    // load would change.
    let _alone = util::alone();
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Instant;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let open = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let born = Instant::now();
    let stall_until = Duration::from_millis(1200);
    {
        let (open, peak) = (open.clone(), peak.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (open, peak) = (open.clone(), peak.clone());
                let now_open = open.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now_open, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    let mut pending = Vec::new();
                    'conn: loop {
                        while !pending.windows(4).any(|w| w == b"\r\n\r\n") {
                            match stream.read(&mut buf) {
                                Ok(0) | Err(_) => break 'conn,
                                Ok(n) => pending.extend_from_slice(&buf[..n]),
                            }
                        }
                        let end = pending.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                        pending.drain(..end);
                        // Everything that arrives during the stall waits for its end.
                        if let Some(wait) = stall_until.checked_sub(born.elapsed()) {
                            std::thread::sleep(wait);
                        }
                        if stream
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                            .is_err()
                        {
                            break;
                        }
                    }
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
    }
    let f = Fixture::new(&format!(
        "url: http://127.0.0.1:{port}/\ncases:\n\
         \x20 - {{name: open, executor: rate, rate: 200/s, duration: 4s, max_in_flight: 1000}}\n"
    ));
    let watcher = {
        let open = open.clone();
        std::thread::spawn(move || {
            // Connections still open near the end of the case.
            std::thread::sleep(Duration::from_millis(3500).saturating_sub(born.elapsed()));
            open.load(Ordering::SeqCst)
        })
    };
    let report = f.run().unwrap();
    let late_open = watcher.join().unwrap();
    assert_accounted(&report.results);
    let grown = peak.load(Ordering::SeqCst);
    assert!(
        grown >= 80,
        "the stall should have grown the pool: peak {grown} connections"
    );
    // At 200/s with sub-millisecond answers a few workers suffice; the pool
    // keeps its 16 starting workers and whatever is not idle.
    assert!(
        late_open <= 50,
        "{late_open} connections still open long after the stall (peak {grown})"
    );
}

/// One delay and one capacity do not describe a server with routes: the
/// case has no model (no `model_*` columns, no ratio), and a check against
/// the model fails with that reason instead of judging a wrong number.
#[test]
fn a_server_with_routes_has_no_model() {
    let fixture = Fixture::new(
        "server:\n  delay: 5ms\n  routes:\n    - {name: slow, path: /slow, delay: 40ms, capacity: 2}\nrequest: {path: /slow}\ncases:\n  - {name: r, executor: tasks, tasks: 2, requests_per_task: 2, checks: [throughput >= 0.5 * model]}\n",
    );
    let report = fixture.run().expect("the run itself succeeds");
    let r = case(&report, "r");
    assert_eq!(r.ok, 4);
    assert!(r.model.is_none(), "{:?}", r.model);
    let verdict = report
        .verdicts
        .iter()
        .find(|v| v.case == "r")
        .expect("a verdict");
    assert!(!verdict.passed, "{verdict:?}");
    assert!(format!("{verdict:?}").contains("no model"), "{verdict:?}");
}
