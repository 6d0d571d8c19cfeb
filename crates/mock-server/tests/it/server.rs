//! Integration tests: a real server on 127.0.0.1 port 0, real HTTP over
//! real sockets. Timing bounds are generous: the machine is shared.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

use mock_server::{load_config_file, StatsSnapshot};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::util::{self, exchange, get, start, wait_for};

const MS: Duration = Duration::from_millis(1);
const LONG: Duration = Duration::from_secs(5);

/// Sends `n` concurrent `GET path`s; returns each one's status and
/// completion time, sorted by completion time.
async fn concurrent(addr: std::net::SocketAddr, path: &str, n: usize) -> Vec<(u16, Duration)> {
    let start = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..n {
        let path = path.to_string();
        set.spawn(async move { (get(addr, &path).await.unwrap().status, start.elapsed()) });
    }
    let mut done = set.join_all().await;
    done.sort_by_key(|(_, t)| *t);
    done
}

/// Checks the "capacity 2, 10 requests, 200ms" shape: peak exactly 2, and
/// the i-th answer never earlier than its wave allows.
async fn check_five_waves(yaml: &str) {
    let server = start(yaml);
    let done = concurrent(server.addr(), "/", 10).await;
    for (i, (status, at)) in done.iter().enumerate() {
        assert_eq!(*status, 200);
        let wave = (i / 2 + 1) as u32;
        assert!(
            *at >= 200 * MS * wave,
            "answer {i} at {at:?} is before wave {wave}"
        );
    }
    let total = done[9].1;
    assert!(total < 1800 * MS, "five waves took {total:?}");
    let stats = server.stats();
    assert_eq!(stats.peak_in_service, 2, "{stats:?}");
    assert!(
        stats.peak_queued >= 1 && stats.peak_queued <= 8,
        "{stats:?}"
    );
    assert_eq!((stats.served, stats.received), (10, 10));
    assert!(stats.is_balanced());
}

#[tokio::test]
async fn fixed_delay_is_never_shorter_and_not_much_longer() {
    let server = start("delay: 100ms");
    for _ in 0..5 {
        let start = Instant::now();
        assert_eq!(get(server.addr(), "/").await.unwrap().status, 200);
        let took = start.elapsed();
        assert!(took >= 100 * MS && took < 500 * MS, "took {took:?}");
    }
}

#[tokio::test]
async fn capacity_two_serves_ten_requests_in_five_waves() {
    check_five_waves("delay: 200ms\ncapacity: 2").await;
}

#[tokio::test]
async fn blocking_mode_matches_async_mode_on_delay_and_capacity() {
    check_five_waves("delay: 200ms\ncapacity: 2\nmode: blocking").await;
    let server = start("delay: 100ms\ncapacity: 4\nmode: blocking");
    let start = Instant::now();
    assert_eq!(get(server.addr(), "/").await.unwrap().status, 200);
    assert!(start.elapsed() >= 100 * MS && start.elapsed() < 500 * MS);
}

#[tokio::test]
async fn per_in_service_slows_down_as_the_server_fills() {
    let server = start("per_in_service: 60ms");
    let addr = server.addr();
    let start = Instant::now();
    get(addr, "/").await.unwrap();
    assert!(start.elapsed() < 60 * MS, "alone: {:?}", start.elapsed());
    let holders: Vec<_> = (0..3)
        .map(|_| tokio::spawn(get(addr, "/delay/2")))
        .collect();
    wait_for(&server, LONG, |s| s.in_service == 3).await;
    let start = Instant::now();
    get(addr, "/").await.unwrap();
    let took = start.elapsed();
    assert!(
        took >= 180 * MS && took < 700 * MS,
        "three others: {took:?}"
    );
    holders.into_iter().for_each(|h| h.abort());
}

#[tokio::test]
async fn full_queue_rejects_with_status_and_retry_after() {
    let server =
        start("delay: 400ms\ncapacity: 1\nqueue: 1\nreject_status: 429\nretry_after: 1.5s");
    let addr = server.addr();
    let first = tokio::spawn(get(addr, "/"));
    wait_for(&server, LONG, |s| s.in_service == 1).await;
    let second = tokio::spawn(get(addr, "/"));
    wait_for(&server, LONG, |s| s.queued == 1).await;
    let rejected = get(addr, "/").await.unwrap();
    assert_eq!(rejected.status, 429);
    assert_eq!(rejected.header("retry-after"), Some("2"));
    assert_eq!(first.await.unwrap().unwrap().status, 200);
    assert_eq!(second.await.unwrap().unwrap().status, 200);
    let stats = server.stats();
    assert_eq!((stats.served, stats.rejected, stats.peak_queued), (2, 1, 1));
    assert_eq!(stats.statuses, BTreeMap::from([(200, 2), (429, 1)]));
    assert!(stats.is_balanced());
}

/// Regression: the queue place was given back before the `queued` counter
/// dropped, so under load `peak_queued` could read one above `queue`.
#[tokio::test]
async fn peak_queued_never_exceeds_the_queue_bound_under_load() {
    let server = start("delay: 20ms\ncapacity: 2\nqueue: 3");
    for _ in 0..3 {
        let done = concurrent(server.addr(), "/", 40).await;
        assert!(done.iter().all(|(status, _)| [200, 503].contains(status)));
    }
    let stats = server.stats();
    assert_eq!(
        (stats.peak_in_service, stats.peak_queued),
        (2, 3),
        "{stats:?}"
    );
    assert_eq!(stats.received, 120);
    assert!(stats.rejected > 0 && stats.is_balanced(), "{stats:?}");
}

/// Regression: `peak_queued` read one above what is possible (200 clients
/// against capacity 100 showed 101). A slot released by a finished request
/// went to a waiter that stayed counted as queued until its task ran;
/// meanwhile the finished request's client had its answer and sent its next
/// request, which queued behind it. With N kept-alive clients each sending
/// one request at a time, at most N requests exist at once: the peaks are
/// exactly C in service and N - C queued, and never add up to more than N.
#[test]
fn peaks_never_exceed_the_number_of_clients() {
    const CLIENTS: usize = 12;
    const CAPACITY: u64 = 4;
    const ROUNDS: usize = 4;
    const REQUESTS: usize = 25;
    let server = util::start_with_workers("delay: 5ms\ncapacity: 4\nqueue: 100", 2);
    let addr = server.addr();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for round in 0..ROUNDS {
        server.reset_peaks();
        let mut clients = JoinSet::new();
        for _ in 0..CLIENTS {
            clients.spawn_on(
                async move {
                    let mut conn = util::KeepAlive::connect(addr).await?;
                    for _ in 0..REQUESTS {
                        assert_eq!(conn.get("/").await?, 200);
                    }
                    std::io::Result::Ok(())
                },
                runtime.handle(),
            );
        }
        let done =
            runtime.block_on(async { tokio::time::timeout(4 * LONG, clients.join_all()).await });
        for result in done.expect("every client finishes within 20 s") {
            result.expect("every request is answered");
        }
        let stats = server.stats();
        let peaks = (stats.peak_in_service, stats.peak_queued);
        assert!(
            peaks.0 + peaks.1 <= CLIENTS as u64,
            "round {round}: peaks {peaks:?} add up to more than {CLIENTS} clients: {stats:?}"
        );
        assert_eq!(
            peaks,
            (CAPACITY, CLIENTS as u64 - CAPACITY),
            "round {round}: {stats:?}"
        );
        assert!(stats.is_balanced(), "{stats:?}");
    }
    let stats = server.stats();
    assert_eq!(stats.received, (ROUNDS * CLIENTS * REQUESTS) as u64);
    assert_eq!(stats.served, stats.received);
}

/// Fills the only slot (queue 0), then sends one more request on a raw
/// socket and returns what reading the answer gave.
async fn overflow_read(policy: &str) -> (std::io::Result<Vec<u8>>, StatsSnapshot) {
    let server = start(&format!(
        "delay: 1s\ncapacity: 1\nqueue: 0\noverflow: {policy}"
    ));
    let addr = server.addr();
    let holder = tokio::spawn(get(addr, "/"));
    wait_for(&server, LONG, |s| s.in_service == 1).await;
    let read = exchange(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let stats = wait_for(&server, LONG, |s| s.dropped == 1).await;
    holder.abort();
    (read, stats)
}

#[tokio::test]
async fn full_queue_with_close_policy_closes_without_an_answer() {
    let (read, stats) = overflow_read("close").await;
    assert_eq!(read.unwrap(), b"", "the connection closed with no bytes");
    assert_eq!((stats.dropped, stats.rejected), (1, 0));
    assert!(stats.is_balanced());
}

#[tokio::test]
async fn full_queue_with_reset_policy_resets_the_connection() {
    let (read, stats) = overflow_read("reset").await;
    assert_eq!(read.unwrap_err().kind(), ErrorKind::ConnectionReset);
    assert_eq!(stats.dropped, 1);
}

#[tokio::test]
async fn queue_timeout_answers_503_and_counts_timed_out() {
    let server = start("delay: 1s\ncapacity: 1\nqueue: 5\nqueue_timeout: 200ms");
    let addr = server.addr();
    let holder = tokio::spawn(get(addr, "/"));
    wait_for(&server, LONG, |s| s.in_service == 1).await;
    let start = Instant::now();
    let reply = get(addr, "/").await.unwrap();
    let waited = start.elapsed();
    assert_eq!(reply.status, 503);
    assert!(reply.header("retry-after").is_some());
    assert!(waited >= 200 * MS && waited < 900 * MS, "waited {waited:?}");
    let stats = server.stats();
    assert_eq!((stats.timed_out, stats.in_service, stats.queued), (1, 1, 0));
    assert!(stats.is_balanced(), "{stats:?}");
    holder.abort();
}

#[tokio::test]
async fn delay_endpoint_is_capped_by_max_delay() {
    let server = start("max_delay: 300ms");
    let addr = server.addr();
    let start = Instant::now();
    let reply = get(addr, "/delay/10").await.unwrap();
    let took = start.elapsed();
    assert_eq!(reply.status, 200);
    assert!(
        took >= 300 * MS && took < 1500 * MS,
        "capped delay took {took:?}"
    );
    let start = Instant::now();
    get(addr, "/delay/0.1").await.unwrap();
    assert!(start.elapsed() >= 100 * MS);
    assert_eq!(get(addr, "/delay/soon").await.unwrap().status, 400);
}

#[tokio::test]
async fn status_endpoint_answers_single_and_weighted_codes() {
    let server = start("seed: 1");
    let addr = server.addr();
    assert_eq!(get(addr, "/status/418").await.unwrap().status, 418);
    let bad = get(addr, "/status/abc").await.unwrap();
    assert_eq!(bad.status, 400);
    assert!(
        bad.text().contains("\"abc\" is not a status code"),
        "{}",
        bad.text()
    );
    let mut counts = BTreeMap::new();
    for _ in 0..100 {
        let status = get(addr, "/status/200:50,503:50").await.unwrap().status;
        *counts.entry(status).or_insert(0) += 1;
    }
    assert_eq!(counts.keys().copied().collect::<Vec<_>>(), vec![200, 503]);
    assert!((25..=75).contains(&counts[&200]), "{counts:?}");
}

#[tokio::test]
async fn bytes_and_get_endpoints_answer_like_httpbin() {
    let server = start("max_body: 1000");
    let addr = server.addr();
    assert_eq!(get(addr, "/bytes/10").await.unwrap().body.len(), 10);
    assert_eq!(get(addr, "/bytes/5000").await.unwrap().body.len(), 1000);
    let echo = get(addr, "/get?name=a+b&x=1").await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&echo.body).unwrap();
    assert_eq!(json["method"], "GET");
    assert_eq!(json["args"]["name"], "a b");
    assert_eq!(json["headers"]["connection"], "close");
    assert_eq!(json["origin"], "127.0.0.1");
}

#[tokio::test]
async fn configured_answer_has_status_body_and_content_type() {
    let server = start("status: 201\nbody_size: 5\ncontent_type: application/json");
    let reply = get(server.addr(), "/anything").await.unwrap();
    assert_eq!(reply.status, 201);
    assert_eq!(reply.body, b"okoko");
    assert_eq!(reply.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn stats_counters_are_exact_after_a_known_load() {
    let server = start("seed: 7\nerror_rate: 0.3\nerror_status: 502");
    let addr = server.addr();
    let mut seen: BTreeMap<u16, u64> = BTreeMap::new();
    for path in ["/", "/status/201", "/bytes/3", "/get"]
        .iter()
        .cycle()
        .take(40)
    {
        *seen
            .entry(get(addr, path).await.unwrap().status)
            .or_default() += 1;
    }
    *seen
        .entry(get(addr, "/status/x").await.unwrap().status)
        .or_default() += 1;
    let stats = server.stats();
    assert_eq!((stats.received, stats.served), (41, 41));
    assert_eq!(stats.statuses, seen);
    assert!(seen.get(&502).is_some_and(|n| *n > 0), "{seen:?}");
    assert_eq!(
        (stats.in_service, stats.queued, stats.peak_in_service),
        (0, 0, 1)
    );
    assert!(stats.is_balanced());
    // `get` opens a connection per request.
    assert_eq!(stats.connections_accepted, 41);
    let over_http: StatsSnapshot =
        serde_json::from_slice(&get(addr, "/__stats").await.unwrap().body).unwrap();
    assert_eq!(
        over_http.connections_accepted, 42,
        "the /__stats request's own"
    );
    assert_eq!(
        StatsSnapshot {
            uptime_seconds: 0.0,
            connections_accepted: 41,
            ..over_http
        },
        StatsSnapshot {
            uptime_seconds: 0.0,
            ..stats
        }
    );
}

#[tokio::test]
async fn metrics_endpoint_is_prometheus_text() {
    let server = start("");
    let addr = server.addr();
    get(addr, "/").await.unwrap();
    get(addr, "/status/503").await.unwrap();
    let reply = get(addr, "/metrics").await.unwrap();
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = reply.text();
    assert!(text.contains("# TYPE mock_server_requests_received_total counter\nmock_server_requests_received_total 2\n"));
    assert!(text.contains("# TYPE mock_server_in_service gauge\nmock_server_in_service 0\n"));
    assert!(text.contains("mock_server_responses_total{status=\"503\"} 1\n"));
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = line.rsplit_once(' ').unwrap();
        assert!(
            name.starts_with("mock_server_") && value.parse::<f64>().is_ok(),
            "{line}"
        );
    }
}

#[tokio::test]
async fn faults_reset_or_answer_with_the_error_status() {
    let server = start("reset_rate: 1");
    let read = exchange(server.addr(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(read.unwrap_err().kind(), ErrorKind::ConnectionReset);
    assert_eq!(wait_for(&server, LONG, |s| s.dropped == 1).await.served, 0);
    let server = start("error_rate: 1\nerror_status: 502");
    assert_eq!(get(server.addr(), "/").await.unwrap().status, 502);
    assert_eq!(server.stats().statuses, BTreeMap::from([(502, 1)]));
}

#[tokio::test]
async fn client_that_goes_away_is_counted_as_cancelled() {
    let server = start("delay: 2s");
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    wait_for(&server, LONG, |s| s.in_service == 1).await;
    drop(stream);
    let stats = wait_for(&server, Duration::from_secs(1), |s| s.cancelled == 1).await;
    assert_eq!((stats.served, stats.in_service), (0, 0));
    assert!(stats.is_balanced());
}

#[tokio::test]
async fn reset_peaks_starts_a_new_measurement() {
    let server = start("delay: 200ms");
    concurrent(server.addr(), "/", 3).await;
    assert_eq!(server.stats().peak_in_service, 3);
    server.reset_peaks();
    assert_eq!(server.stats().peak_in_service, 0);
    get(server.addr(), "/").await.unwrap();
    assert_eq!(server.stats().peak_in_service, 1);
}

#[tokio::test]
async fn graceful_shutdown_drains_in_flight_requests() {
    let server = start("delay: 400ms");
    let addr = server.addr();
    let requests: Vec<_> = (0..3).map(|_| tokio::spawn(get(addr, "/"))).collect();
    wait_for(&server, LONG, |s| s.in_service == 3).await;
    let start = Instant::now();
    let stats = tokio::task::spawn_blocking(move || server.shutdown(LONG))
        .await
        .unwrap();
    assert!(
        start.elapsed() < 2 * LONG / 5,
        "drain took {:?}",
        start.elapsed()
    );
    for request in requests {
        assert_eq!(request.await.unwrap().unwrap().status, 200);
    }
    assert_eq!((stats.served, stats.cancelled), (3, 0));
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test]
async fn shutdown_grace_is_a_deadline() {
    let server = start("delay: 10s");
    let addr = server.addr();
    let request = tokio::spawn(get(addr, "/"));
    wait_for(&server, LONG, |s| s.in_service == 1).await;
    let start = Instant::now();
    let stats = tokio::task::spawn_blocking(move || server.shutdown(200 * MS))
        .await
        .unwrap();
    let took = start.elapsed();
    assert!(
        took >= 200 * MS && took < 2 * LONG / 5,
        "shutdown took {took:?}"
    );
    assert!(
        request.await.unwrap().is_err(),
        "the cut-off request got an answer"
    );
    assert_eq!((stats.cancelled, stats.in_service), (1, 0));
    assert!(stats.is_balanced());
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let server = start("");
    let addr = server.addr();
    assert_eq!(get(addr, "/").await.unwrap().status, 200);
    drop(server);
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn slow_client_that_never_finishes_its_headers_is_disconnected() {
    let server = start("header_timeout: 300ms");
    let start = Instant::now();
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(LONG, stream.read(&mut buf))
        .await
        .expect("disconnected");
    assert!(matches!(read, Ok(0) | Err(_)), "got {read:?}");
    assert!(start.elapsed() >= 250 * MS);
}

#[tokio::test]
async fn silent_client_is_disconnected() {
    let server = start("header_timeout: 300ms");
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(LONG, stream.read(&mut buf))
        .await
        .expect("disconnected");
    assert!(matches!(read, Ok(0) | Err(_)), "got {read:?}");
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed() {
    let server = start("idle_timeout: 300ms");
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let start = Instant::now();
    let mut raw = Vec::new();
    let read = tokio::time::timeout(LONG, stream.read_to_end(&mut raw))
        .await
        .expect("closed");
    assert!(read.is_ok());
    assert_eq!(util::parse(&raw).unwrap().status, 200);
    assert!(
        start.elapsed() >= 250 * MS,
        "closed after {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn oversized_header_gets_431() {
    let server = start("max_header_size: 8192");
    let request = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(10_000)
    );
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = vec![0u8; 64];
    let n = stream.read(&mut raw).await.unwrap();
    assert!(
        raw[..n].starts_with(b"HTTP/1.1 431"),
        "{:?}",
        String::from_utf8_lossy(&raw[..n])
    );
}

#[tokio::test]
async fn oversized_body_gets_413() {
    let server = start("max_request_body: 100");
    let body = "x".repeat(200);
    let request = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\nConnection: close\r\n\r\n{body}"
    );
    let reply = util::parse(&exchange(server.addr(), request.as_bytes()).await.unwrap()).unwrap();
    assert_eq!(reply.status, 413);
    let chunked = format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nc8\r\n{body}\r\n0\r\n\r\n");
    let reply = util::parse(&exchange(server.addr(), chunked.as_bytes()).await.unwrap()).unwrap();
    assert_eq!(reply.status, 413);
    let small = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    let reply = util::parse(&exchange(server.addr(), small.as_bytes()).await.unwrap()).unwrap();
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn http2_cleartext_is_served_with_the_same_capacity() {
    use http_body_util::{BodyExt, Empty};
    let server = start("delay: 100ms\ncapacity: 2");
    let stream = TcpStream::connect(server.addr()).await.unwrap();
    let io = hyper_util::rt::TokioIo::new(stream);
    let (sender, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut set = JoinSet::new();
    for _ in 0..6 {
        let mut sender = sender.clone();
        set.spawn(async move {
            let request = http::Request::get("/status/418")
                .body(Empty::<bytes::Bytes>::new())
                .unwrap();
            let response = sender.send_request(request).await.unwrap();
            let status = response.status();
            response.into_body().collect().await.unwrap();
            status
        });
    }
    for status in set.join_all().await {
        assert_eq!(status, 418);
    }
    let stats = server.stats();
    assert_eq!((stats.served, stats.peak_in_service), (6, 2));
}

/// The protocol is told from the client's first bytes without consuming
/// them: a preface that arrives in pieces is still HTTP/2 (the server's
/// SETTINGS frame comes back), and a part of one followed by a close goes
/// to HTTP/1, which ends the connection at once, not after the header
/// timeout.
#[tokio::test]
async fn the_protocol_is_told_from_first_bytes_that_arrive_in_pieces() {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let server = start("header_timeout: 10s");
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    for piece in PREFACE.chunks(5) {
        stream.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut head = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut head))
        .await
        .expect("an answer to a preface sent in pieces")
        .unwrap();
    assert_eq!(head[3], 0x4, "a SETTINGS frame first: {head:?}");

    let started = Instant::now();
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream.write_all(&PREFACE[..10]).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
        .await
        .expect("the connection ends well before the 10 s header timeout")
        .ok();
    assert!(started.elapsed() < Duration::from_secs(5));

    let reply = util::parse(
        &exchange(
            server.addr(),
            b"GET /status/418 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap(),
    )
    .unwrap();
    assert_eq!(reply.status, 418, "HTTP/1 still served beside");
}

#[test]
fn binary_prints_its_address_and_final_stats_on_sigterm() {
    let mut child = util::spawn_binary(
        &["--listen", "127.0.0.1:0", "--workers", "1"],
        None,
        Stdio::null(),
    );
    let (addr, mut stdout) = util::read_listen_line(&mut child);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(get(addr, "/")).unwrap().status, 200);
    util::terminate(&child);
    let status = util::wait_exit(&mut child, LONG);
    assert_eq!(status.code(), Some(0));
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let stats: StatsSnapshot = serde_json::from_str(rest.trim()).unwrap();
    assert_eq!((stats.received, stats.served), (1, 1));
}

#[test]
fn binary_exit_codes_say_what_went_wrong() {
    let run = |args: &[&str]| {
        let mut child = util::spawn_binary(args, None, Stdio::piped());
        let status = util::wait_exit(&mut child, LONG);
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (status.code(), stderr)
    };
    let (code, stderr) = run(&["--capacity", "0"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("capacity: 0 is not allowed"), "{stderr}");
    let (code, _) = run(&["--no-such-flag"]);
    assert_eq!(code, Some(2));
    let (code, stderr) = run(&["--listen", "0.0.0.0:0"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--allow-non-loopback"), "{stderr}");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, stderr) = run(&["--listen", &addr]);
    assert_eq!(code, Some(3));
    assert!(stderr.contains("cannot listen on"), "{stderr}");
}

#[test]
fn flood_with_a_low_open_files_limit_leaves_it_serving() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let args = ["--listen", "127.0.0.1:0", "--workers", "1"];
    let mut child = util::spawn_binary(&args, Some(64), Stdio::from(log.reopen().unwrap()));
    let (addr, _stdout) = util::read_listen_line(&mut child);
    let (flood, failed): (Vec<_>, Vec<_>) = (0..300)
        .map(|_| std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)))
        .partition(Result::is_ok);
    let log_text = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        flood.len() > 100,
        "only {} connections opened: {:?}; log: {log_text}",
        flood.len(),
        failed.first()
    );
    std::thread::sleep(Duration::from_millis(200));
    drop(flood);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let reply = runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(1), get(addr, "/")).await })
        .expect("answered within a second")
        .unwrap();
    assert_eq!(reply.status, 200);
    assert!(child.try_wait().unwrap().is_none(), "the server exited");
    let stderr = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        stderr.contains("accept failed"),
        "the flood never hit the limit: {stderr}"
    );
    util::terminate(&child);
    assert_eq!(util::wait_exit(&mut child, LONG).code(), Some(0));
}

#[test]
fn bad_config_examples_give_their_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.yaml");
    let examples = [
        "queue_timeout: -5s",
        "header_timeout: soon",
        "delay: 5 parsecs",
        "capacity: 0",
        "delay: lognormal(100ms, 20ms)",
        "listen: 127.0.0.1:8080\ncapcity: 5",
        "overflow: drop",
        "error_rate: 1.5",
        "reject_status: 500",
        "max_header_size: 1024",
        "mode: blocking",
        "write_timeout: 0",
        "routes:\n  - {path: /a, capacity: 0}",
        "routes:\n  - {path: api/*}",
        "routes:\n  - {path: /a, pool: db}",
        "pools:\n  db: {capacity: 2}\nroutes:\n  - {path: /a, pool: db, queue: 5}",
        "routes:\n  - {path: /a, queue: 5}",
        "routes:\n  - {path: /a}\n  - {path: /a}",
        "routes:\n  - {path: /a, method: get}",
        "routes:\n  - {path: /a, status: 200:x}",
        "routes:\n  - {path: /a, delay: 1s, colour: red}",
        "error_every: 0",
        "capacity: 4\nschedule:\n  - {at: 10s, set: {capacity: 0}}",
        "schedule:\n  - {at: 1s, set: {listen: 127.0.0.1:1}}",
        "tls: yes",
        "tls_cert: cert.pem",
        "tls: self_signed\ntls_key: key.pem",
        "tls_client_ca: ca.pem",
    ];
    let mut report = String::new();
    for yaml in examples {
        std::fs::write(&path, yaml).unwrap();
        let error = load_config_file(&path)
            .and_then(|config| config.validate())
            .expect_err(yaml);
        let message = error
            .to_string()
            .replace(&*dir.path().to_string_lossy(), "<dir>");
        report.push_str(&format!("{yaml}\n=> {message}\n\n"));
    }
    insta::assert_snapshot!(report);
}

#[test]
fn every_module_starts_with_a_doc_comment() {
    fn visit(dir: &std::path::Path, missing: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                visit(&path, missing);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                if !text.trim_start().starts_with("//!") {
                    missing.push(path.display().to_string());
                }
            }
        }
    }
    let mut missing = Vec::new();
    for dir in ["src", "tests"] {
        visit(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir),
            &mut missing,
        );
    }
    assert!(
        missing.is_empty(),
        "modules without a //! comment: {missing:?}"
    );
}
