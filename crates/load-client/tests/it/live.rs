//! `run --metrics-listen`: the Prometheus endpoint is scraped while a
//! bounded run goes; its counters grow, and at the end they equal the
//! run's totals. A non-loopback address is refused without
//! `--allow-remote`.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use load_client::live::{LiveMetrics, MetricsServer};

use crate::util::{self, Fixture};

/// `GET /metrics`, parsed into `name{labels}` → value.
fn scrape(addr: SocketAddr) -> BTreeMap<String, f64> {
    let mut stream = TcpStream::connect(addr).expect("connect to the metrics endpoint");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read the answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("bad line {l:?}"));
            (
                name.to_string(),
                value.parse().unwrap_or_else(|_| panic!("bad value {l:?}")),
            )
        })
        .collect()
}

#[test]
fn metrics_are_served_while_the_run_goes_and_end_at_the_run_totals() {
    let fx = Fixture::new(
        r#"
server: {delay: 2ms, capacity: 2, queue: 0, overflow: reject}
cases:
  - name: open
    executor: rate
    rate: 300/s
    duration: 2s
  - name: closed
    executor: tasks
    tasks: 4
    requests_per_task: 50
"#,
    );
    let live = Arc::new(LiveMetrics::default());
    let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), false, live.clone())
        .expect("bind a free loopback port");
    let addr = server.addr();
    assert_ne!(addr.port(), 0);
    let mut options = fx.options();
    options.live = Some(live);
    let run = std::thread::spawn(move || load_client::run::run(&options));
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !run.is_finished() && Instant::now() < deadline {
        seen.push(scrape(addr)["load_client_requests_total"]);
        std::thread::sleep(Duration::from_millis(150));
    }
    let report = run.join().expect("no panic").expect("run");
    util::assert_accounted(&report.results);
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "a counter never goes down: {seen:?}"
    );
    let rising = seen.windows(2).filter(|w| w[0] < w[1]).count();
    assert!(rising >= 2, "the count grew while the run went: {seen:?}");

    let end = scrape(addr);
    let sum = |f: fn(&load_client::results::CaseResult) -> u64| -> f64 {
        report.results.iter().map(f).sum::<u64>() as f64
    };
    assert_eq!(end["load_client_requests_total"], sum(|r| r.requests));
    assert_eq!(
        end["load_client_request_duration_seconds_count"],
        sum(|r| r.ok)
    );
    assert_eq!(
        end["load_client_request_duration_seconds_bucket{le=\"+Inf\"}"],
        sum(|r| r.ok)
    );
    let errors: f64 = end
        .iter()
        .filter(|(k, _)| k.starts_with("load_client_errors_total{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(errors, sum(|r| r.error_count()));
    assert!(
        errors > 0.0,
        "capacity 2 without a queue rejects some of 300/s"
    );
    assert_eq!(
        end["load_client_errors_total{kind=\"http_5xx\"}"],
        sum(|r| r.errors.get(load_client::outcome::ErrorKind::Http5xx))
    );
    assert_eq!(end["load_client_in_flight"], 0.0);
    assert_eq!(end["load_client_target_rate"], 0.0);
    assert_eq!(end["load_client_cases_started_total"], 2.0);
    let buckets: Vec<f64> = end
        .iter()
        .filter(|(k, _)| k.starts_with("load_client_request_duration_seconds_bucket"))
        .map(|(_, v)| *v)
        .collect();
    assert!(buckets.len() >= 10);
    let sum_s = end["load_client_request_duration_seconds_sum"];
    assert!(
        sum_s >= sum(|r| r.ok) * 0.002 * 0.9,
        "every success took about 2 ms or more: {sum_s}"
    );
}

#[test]
fn a_remote_metrics_address_is_refused_with_exit_2() {
    let fx = Fixture::new("server: {}\ncases:\n  - {name: a, executor: sequential, requests: 1}\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_load-client"))
        .args([
            "run",
            "--quiet",
            "--metrics-listen",
            "192.0.2.1:9464",
            "--out",
        ])
        .arg(fx.out())
        .arg(&fx.scenario)
        .output()
        .expect("run the binary");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a loopback address"), "{stderr}");
    assert!(!fx.out().exists(), "nothing was run");
}
