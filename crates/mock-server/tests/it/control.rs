//! Routes, pools, the control API, phases and slow bodies, on a real
//! server over real sockets. Timing bounds are generous (the machine is
//! shared); each test says what it asserts.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::util::{exchange, get, parse, start, KeepAlive, Reply};

/// Sends one request with `method`, optional extra headers and a body, on
/// a new connection.
async fn send(addr: SocketAddr, method: &str, path: &str, headers: &str, body: &str) -> Reply {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let raw = exchange(addr, request.as_bytes()).await.unwrap();
    parse(&raw).unwrap_or_else(|| panic!("no answer to {method} {path}: {raw:?}"))
}

async fn config(addr: SocketAddr) -> Value {
    let reply = send(addr, "GET", "/__admin/config", "", "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    serde_json::from_slice(&reply.body).unwrap()
}

async fn patch(addr: SocketAddr, patch: Value) -> Reply {
    send(addr, "PATCH", "/__admin/config", "", &patch.to_string()).await
}

const ROUTED: &str = "
pools:
  db: {capacity: 2, queue: 0}
routes:
  - {name: reads, method: GET, path: /api/*, pool: db}
  - {name: writes, method: [POST, PUT], path: /api/*, pool: db, status: 201}
  - {name: health, path: /health}
  - {name: slow, path: /slow/**, capacity: 1, queue: 0, delay: 1s}
";

/// Every route's and pool's counters agree exactly with what was sent to
/// its paths, and the invariant holds in each and in total.
#[tokio::test]
async fn routes_and_pools_count_exactly_what_was_sent_by_path() {
    let server = start(ROUTED);
    let addr = server.addr();
    for i in 0..7 {
        assert_eq!(
            get(addr, &format!("/api/items/{i}")).await.unwrap().status,
            200
        );
    }
    for _ in 0..5 {
        assert_eq!(send(addr, "POST", "/api/items", "", "{}").await.status, 201);
    }
    for path in [
        "/health",
        "/health",
        "/health",
        "/health",
        "/elsewhere",
        "/",
        "/apiary",
    ] {
        assert_eq!(get(addr, path).await.unwrap().status, 200);
    }
    // Three at once on a route with one slot and no queue: one served.
    let mut set = JoinSet::new();
    for _ in 0..3 {
        set.spawn(async move { get(addr, "/slow/x/y").await.unwrap().status });
    }
    let mut statuses = set.join_all().await;
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 503, 503]);
    let stats = server.stats();
    let counts = |name: &str| {
        let r = &stats.routes[name];
        (r.received, r.served, r.rejected)
    };
    assert_eq!(counts("reads"), (7, 7, 0));
    assert_eq!(counts("writes"), (5, 5, 0));
    assert_eq!(counts("health"), (4, 4, 0));
    assert_eq!(counts("slow"), (3, 1, 2));
    assert_eq!(stats.routes["writes"].statuses[&201], 5);
    assert_eq!(stats.pools["db"].received, 12);
    assert_eq!(stats.pools.len(), 1);
    assert_eq!(stats.received, 7 + 5 + 4 + 3 + 3);
    assert!(stats.is_balanced_everywhere(), "{stats:#?}");
    let metrics = get(addr, "/metrics").await.unwrap().text();
    assert!(metrics.contains("mock_server_route_requests_received_total{route=\"reads\"} 7\n"));
    assert!(metrics.contains("mock_server_pool_requests_received_total{pool=\"db\"} 12\n"));
}

/// Reads and writes share the pool's two slots: three slow requests at
/// once on the two routes, one refused by the pool (no queue).
#[tokio::test]
async fn routes_in_a_pool_share_its_slots() {
    let server = start(
        "pools:\n  db: {capacity: 2, queue: 0}\nroutes:\n  - {name: reads, method: GET, path: /api/*, pool: db, delay: 1s}\n  - {name: writes, method: POST, path: /api/*, pool: db, delay: 1s}\n",
    );
    let addr = server.addr();
    let mut set = JoinSet::new();
    set.spawn(async move { get(addr, "/api/a").await.unwrap().status });
    for _ in 0..2 {
        set.spawn(async move { send(addr, "POST", "/api/b", "", "").await.status });
    }
    let mut statuses = set.join_all().await;
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 503]);
    let stats = server.stats();
    let db = &stats.pools["db"];
    assert_eq!(
        (db.received, db.served, db.rejected, db.peak_in_service),
        (3, 2, 1, 2)
    );
    assert!(stats.is_balanced_everywhere(), "{stats:#?}");
}

/// A PATCH that breaks a rule is refused with the file's message and
/// changes nothing; a good one changes behaviour for the next request.
#[tokio::test]
async fn a_refused_patch_changes_nothing_and_a_good_one_applies() {
    let server = start(ROUTED);
    let addr = server.addr();
    let before = config(addr).await;
    let refused = [
        (
            json!({"capacity": 0}),
            "capacity: 0 is not allowed; expected an integer from 1",
        ),
        (
            json!({"pools": {"db": {"capacity": -3}}}),
            "pools.db.capacity: -3 is not allowed",
        ),
        (
            json!({"routes": {"reads": {"delay": "soon"}}}),
            "routes.reads.delay:",
        ),
        (
            json!({"listen": "127.0.0.1:1"}),
            "listen: cannot change while the server runs",
        ),
        (
            json!({"routes": {"nobody": {"delay": "1s"}}}),
            "routes.nobody: there is no route",
        ),
    ];
    for (body, message) in refused {
        let reply = patch(addr, body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
        assert!(
            reply.text().starts_with(message),
            "{body}: {}",
            reply.text()
        );
        assert_eq!(config(addr).await, before, "{body} changed something");
    }
    let reply = send(addr, "PATCH", "/__admin/config", "", "{not json").await;
    assert_eq!(reply.status, 400);
    let reply = patch(
        addr,
        json!({"routes": {"health": {"delay": "300ms", "status": 202}}}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let after: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(after["routes"][2]["delay"], "300ms");
    let started = Instant::now();
    assert_eq!(get(addr, "/health").await.unwrap().status, 202);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let phases = server.stats().phases;
    assert_eq!(phases.len(), 1, "only the accepted change is recorded");
    assert_eq!(phases[0].source, "admin");
}

/// `POST /__admin/reset` zeroes the counters; with a token set, requests
/// without it (or with another) are refused and the token is never shown;
/// with `admin: off` the API is not there. (Refusing non-loopback peers is
/// unit-tested in `admin`: a test cannot connect from another address.)
#[tokio::test]
async fn admin_api_resets_and_asks_for_its_token() {
    let server = start("admin_token: s3cret-t0ken");
    let addr = server.addr();
    for _ in 0..3 {
        get(addr, "/").await.unwrap();
    }
    assert_eq!(
        send(addr, "GET", "/__admin/config", "", "").await.status,
        401
    );
    let wrong = "Authorization: Bearer s3cret-t0keN\r\n";
    assert_eq!(
        send(addr, "POST", "/__admin/reset", wrong, "").await.status,
        401
    );
    let right = "Authorization: Bearer s3cret-t0ken\r\n";
    let reply = send(addr, "GET", "/__admin/config", right, "").await;
    assert_eq!(reply.status, 200);
    assert!(!reply.text().contains("s3cret"), "{}", reply.text());
    assert_eq!(server.stats().received, 3);
    assert_eq!(
        send(addr, "POST", "/__admin/reset", right, "").await.status,
        200
    );
    let stats = server.stats();
    assert_eq!((stats.received, stats.served), (0, 0), "{stats:?}");
    assert_eq!(
        send(addr, "GET", "/__admin/reset", right, "").await.status,
        405
    );
    let off = start("admin: off");
    assert_eq!(
        send(off.addr(), "GET", "/__admin/config", "", "")
            .await
            .status,
        404
    );
    assert_eq!(off.stats().received, 0, "control requests are not counted");
}

/// A capacity cut while requests are in service drops none of them; the
/// requests after it are served one at a time.
#[tokio::test]
async fn capacity_cut_while_in_service_drops_none() {
    let server = start("capacity: 4\nqueue: 10\ndelay: 400ms");
    let addr = server.addr();
    let started = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..4 {
        set.spawn(async move { get(addr, "/").await.unwrap().status });
    }
    crate::util::wait_for(&server, Duration::from_secs(5), |s| s.in_service == 4).await;
    server.patch(&json!({"capacity": 1})).unwrap();
    for _ in 0..2 {
        set.spawn(async move { get(addr, "/").await.unwrap().status });
    }
    let statuses = set.join_all().await;
    assert_eq!(statuses, [200; 6]);
    // The first four end at ~400 ms, then the two others one after the other.
    assert!(
        started.elapsed() >= Duration::from_millis(1150),
        "{:?}",
        started.elapsed()
    );
    let stats = server.stats();
    assert_eq!((stats.served, stats.dropped, stats.cancelled), (6, 0, 0));
    assert!(stats.is_balanced());
}

/// Runs `clients` keep-alive clients against `/` until `until`; returns
/// each answer's completion time after `start`.
async fn closed_loop(
    addr: SocketAddr,
    clients: usize,
    start: Instant,
    until: Duration,
) -> Vec<Duration> {
    let mut set = JoinSet::new();
    for _ in 0..clients {
        set.spawn(async move {
            let mut conn = KeepAlive::connect(addr).await.unwrap();
            let mut done = Vec::new();
            while start.elapsed() < until {
                assert_eq!(conn.get("/").await.unwrap(), 200);
                done.push(start.elapsed());
            }
            done
        });
    }
    set.join_all().await.concat()
}

/// A phase lands on time on the server's own clock and the throughput
/// moves to the new C/D. Asserted: the change took effect less than 50 ms
/// after it was due (the issue asks for 10 ms; the bound is generous for a
/// busy 2-core machine: a tokio timer and one lock stand between), and the
/// rate in the second after the cut is within [0.5, 1.5] × the new C/D.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phase_lands_on_time_and_throughput_follows() {
    let server = start("capacity: 8\ndelay: 50ms\nschedule:\n  - {at: 1s, set: {capacity: 2}}\n");
    let addr = server.addr();
    server.restart_schedule();
    let start = Instant::now();
    let done = closed_loop(addr, 16, start, Duration::from_millis(2600)).await;
    let rate = |from: u64, to: u64| {
        let n = done
            .iter()
            .filter(|t| (from..to).contains(&(t.as_millis() as u64)))
            .count();
        n as f64 * 1000.0 / (to - from) as f64
    };
    let (before, after) = (rate(300, 900), rate(1500, 2500));
    assert!(
        before > 0.5 * 160.0,
        "before the cut: {before:.0}/s (C/D = 160/s)"
    );
    assert!(
        (20.0..=60.0).contains(&after),
        "after the cut: {after:.0}/s (C/D = 40/s)"
    );
    let phases = server.stats().phases;
    assert_eq!(phases.len(), 1, "{phases:?}");
    let late = phases[0].applied_seconds - phases[0].due_seconds.unwrap();
    eprintln!(
        "phase applied {:.2} ms late; {before:.0}/s before, {after:.0}/s after",
        late * 1e3
    );
    assert!(
        (0.0..0.05).contains(&late),
        "applied {late:.4} s after its time"
    );
    assert_eq!(phases[0].source, "schedule[0]");
    assert!(server.stats().is_balanced());
}

/// Reads one answer's body, returning the head's status, the body bytes
/// read and the time from the request to the last byte.
async fn timed(addr: SocketAddr, path: &str) -> (Option<u16>, usize, Duration) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let started = Instant::now();
    let raw = exchange(addr, request.as_bytes()).await.unwrap_or_default();
    let elapsed = started.elapsed();
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |i| i + 4);
    (parse(&raw).map(|r| r.status), raw.len() - head_end, elapsed)
}

/// A bandwidth limit holds over a 1 MB body: asserted never faster than
/// the limit allows less 5%, and at most 25% slower (slack for a busy
/// machine; on an idle one it is within 2%).
#[tokio::test]
async fn bandwidth_limit_holds_over_a_megabyte() {
    let server = start("routes:\n  - {path: /big, body_size: 1000000, bandwidth: 2000000}\n");
    let (status, bytes, elapsed) = timed(server.addr(), "/big").await;
    assert_eq!((status, bytes), (Some(200), 1_000_000));
    let expected = 0.5;
    let took = elapsed.as_secs_f64();
    eprintln!(
        "1 MB at 2 MB/s: {took:.4} s ({:+.1}%)",
        (took / expected - 1.0) * 100.0
    );
    assert!(
        took >= 0.95 * expected && took <= 1.25 * expected,
        "1 MB at 2 MB/s took {took:.3} s"
    );
}

/// Dribbled chunks take their intervals; a stall sends `stall_after`
/// bytes, waits `stall_for`, then cuts the body off.
#[tokio::test]
async fn dribbled_and_stalled_bodies() {
    let server = start(
        "routes:\n  - {path: /drip, body_size: 300, chunk_size: 100, chunk_interval: 100ms}\n  - {path: /stall, body_size: 100, stall_after: 10, stall_for: 300ms}\n",
    );
    let (status, bytes, elapsed) = timed(server.addr(), "/drip").await;
    assert_eq!((status, bytes), (Some(200), 300));
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    let (status, bytes, elapsed) = timed(server.addr(), "/stall").await;
    assert_eq!((status, bytes), (None, 10), "a cut-off body is incomplete");
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
}

/// `error_every: 3` answers exactly every third request of its route with
/// the error status; other routes are untouched.
#[tokio::test]
async fn every_nth_request_fails() {
    let server = start("routes:\n  - {path: /flaky, error_every: 3, error_status: 502}\n");
    let mut statuses = Vec::new();
    for _ in 0..9 {
        statuses.push(get(server.addr(), "/flaky").await.unwrap().status);
        assert_eq!(get(server.addr(), "/steady").await.unwrap().status, 200);
    }
    assert_eq!(statuses, [200, 200, 502, 200, 200, 502, 200, 200, 502]);
}
