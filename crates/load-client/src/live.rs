//! Live metrics while a run goes: `run --metrics-listen ADDR` serves the
//! Prometheus text format on `GET /metrics`.
//!
//! The counters are the cases' [`Progress`] atomics (relaxed, never
//! locked on the hot path); a scrape sums them over every case run so far.
//! Served:
//!
//! - `load_client_requests_total` (counter): requests finished in measured
//!   phases, successes and failures, `aborted` ones included when their
//!   case ends, so at the end it equals the sum of the `requests` column;
//! - `load_client_errors_total{kind}` (counter): failed requests by kind;
//! - `load_client_in_flight` (gauge): sent and not yet finished;
//! - `load_client_target_rate` (gauge): the running case's target rate,
//!   req/s (0 for a closed loop or between cases);
//! - `load_client_request_duration_seconds` (histogram): latency of the
//!   successful requests, cumulative `_bucket{le}`, `_sum`, `_count`;
//!   buckets add up across shards and runs, unlike percentiles;
//! - `load_client_cases_started_total` (counter).
//!
//! The server is a minimal HTTP/1.1 responder on a thread of its own (a
//! blocking accept loop polled every 20 ms, one short connection at a
//! time), so it shares no runtime with the measurement. It binds loopback
//! only unless `--allow-remote` is given.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::outcome::ErrorKind;
use crate::recorder::{Progress, ProgressSnapshot, LIVE_BUCKETS_US};

/// The live counters of a run: every case's progress, and the running
/// case's target rate.
#[derive(Debug, Default)]
pub struct LiveMetrics {
    cases: Mutex<Vec<Arc<Progress>>>,
    target_rate_bits: AtomicU64,
}

impl LiveMetrics {
    /// A case starts: its progress (made [`Progress::detailed`]) joins the
    /// sums, and its target rate becomes the gauge.
    pub fn begin_case(&self, progress: Arc<Progress>, target_rate: Option<f64>) {
        self.cases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(progress);
        self.target_rate_bits
            .store(target_rate.unwrap_or(0.0).to_bits(), Ordering::Relaxed);
    }

    /// The case is over: no target rate until the next one.
    pub fn end_case(&self) {
        self.target_rate_bits
            .store(0f64.to_bits(), Ordering::Relaxed);
    }

    /// Every case's counters added up.
    pub fn totals(&self) -> (ProgressSnapshot, usize) {
        let cases = self.cases.lock().unwrap_or_else(PoisonError::into_inner);
        let mut total = ProgressSnapshot::default();
        for p in cases.iter() {
            let s = p.snapshot();
            total.done += s.done;
            total.launched += s.launched;
            total.latency_sum_us += s.latency_sum_us;
            for (t, n) in total.by_kind.iter_mut().zip(s.by_kind) {
                *t += n;
            }
            for (t, n) in total.buckets.iter_mut().zip(s.buckets) {
                *t += n;
            }
        }
        (total, cases.len())
    }

    /// The Prometheus text exposition of the counters now.
    pub fn render(&self) -> String {
        let (t, cases) = self.totals();
        let rate = f64::from_bits(self.target_rate_bits.load(Ordering::Relaxed));
        let mut out = String::with_capacity(2048);
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(
            &mut out,
            "load_client_requests_total",
            "counter",
            "Requests finished in measured phases (successes and failures).",
        );
        let _ = writeln!(out, "load_client_requests_total {}", t.done);
        head(
            &mut out,
            "load_client_errors_total",
            "counter",
            "Failed requests by kind.",
        );
        for kind in ErrorKind::ALL {
            let _ = writeln!(
                out,
                "load_client_errors_total{{kind=\"{}\"}} {}",
                kind.as_str(),
                t.by_kind[kind.index()]
            );
        }
        head(
            &mut out,
            "load_client_in_flight",
            "gauge",
            "Requests sent and not yet finished.",
        );
        let _ = writeln!(
            out,
            "load_client_in_flight {}",
            t.launched.saturating_sub(t.done)
        );
        head(
            &mut out,
            "load_client_target_rate",
            "gauge",
            "Target rate of the running open-loop case, requests per second (0 otherwise).",
        );
        let _ = writeln!(out, "load_client_target_rate {rate}");
        head(
            &mut out,
            "load_client_cases_started_total",
            "counter",
            "Cases started (each repetition and search step counts).",
        );
        let _ = writeln!(out, "load_client_cases_started_total {cases}");
        let name = "load_client_request_duration_seconds";
        head(
            &mut out,
            name,
            "histogram",
            "Latency of successful requests (open loop: from the intended send time).",
        );
        let mut cumulative = 0;
        for (i, n) in t.buckets.iter().enumerate() {
            cumulative += n;
            let le = LIVE_BUCKETS_US
                .get(i)
                .map_or("+Inf".to_string(), |us| format!("{}", *us as f64 / 1e6));
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_sum {}", t.latency_sum_us as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {cumulative}");
        out
    }
}

/// Why the metrics server could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A non-loopback address without `--allow-remote` (exit 2).
    #[error("refusing to serve metrics on {0}, which is not a loopback address; pass --allow-remote if you mean to expose them")]
    NotLoopback(SocketAddr),
    /// The address could not be bound (exit 3).
    #[error("cannot serve metrics on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why not.
        source: std::io::Error,
    },
}

impl MetricsError {
    /// The exit code of `run`: 2 for a refused address, 3 when it cannot
    /// be bound.
    pub fn exit_code(&self) -> u8 {
        match self {
            MetricsError::NotLoopback(_) => 2,
            MetricsError::Bind { .. } => 3,
        }
    }
}

/// The metrics endpoint, served until dropped.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` (refused when not loopback, unless `allow_remote`) and
    /// serves `live` on `GET /metrics` from a thread of its own.
    pub fn start(
        addr: SocketAddr,
        allow_remote: bool,
        live: Arc<LiveMetrics>,
    ) -> Result<MetricsServer, MetricsError> {
        if !allow_remote && !addr.ip().to_canonical().is_loopback() {
            return Err(MetricsError::NotLoopback(addr));
        }
        let bind = |source| MetricsError::Bind { addr, source };
        let listener = TcpListener::bind(addr).map_err(bind)?;
        listener.set_nonblocking(true).map_err(bind)?;
        let bound = listener.local_addr().map_err(bind)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || serve(&listener, &live, &flag))
            .map_err(bind)?;
        Ok(MetricsServer {
            addr: bound,
            stop,
            thread: Some(thread),
        })
    }

    /// The address bound (the port chosen when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(listener: &TcpListener, live: &LiveMetrics, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = answer(stream, live) {
                    tracing::debug!("metrics: {e}");
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Reads one request head (at most 8 KiB, 2 s) and answers it; the
/// connection is closed after the answer.
fn answer(mut stream: TcpStream, live: &LiveMetrics) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, body) = match (method, path) {
        ("GET", "/metrics") => ("200 OK", live.render()),
        ("GET", _) => (
            "404 Not Found",
            "not found; metrics are at /metrics\n".to_string(),
        ),
        _ => ("405 Method Not Allowed", "only GET /metrics\n".to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes())?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_sums_cases_and_buckets_are_cumulative() {
        let live = LiveMetrics::default();
        let a = Arc::new(Progress::detailed());
        a.launch();
        a.launch();
        a.ok(700);
        live.begin_case(a, Some(250.0));
        let b = Arc::new(Progress::detailed());
        b.launch();
        b.ok(3_000_000);
        b.launch();
        b.failed(ErrorKind::Http5xx);
        live.begin_case(b, None);
        let text = live.render();
        for line in [
            "load_client_requests_total 3",
            "load_client_errors_total{kind=\"http_5xx\"} 1",
            "load_client_in_flight 1",
            "load_client_target_rate 0",
            "load_client_cases_started_total 2",
            "load_client_request_duration_seconds_bucket{le=\"0.0005\"} 0",
            "load_client_request_duration_seconds_bucket{le=\"0.001\"} 1",
            "load_client_request_duration_seconds_bucket{le=\"5\"} 2",
            "load_client_request_duration_seconds_bucket{le=\"+Inf\"} 2",
            "load_client_request_duration_seconds_sum 3.0007",
            "load_client_request_duration_seconds_count 2",
            "# TYPE load_client_request_duration_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }

    #[test]
    fn remote_addresses_need_allow_remote() {
        let live = Arc::new(LiveMetrics::default());
        let err =
            MetricsServer::start("10.1.2.3:9".parse().unwrap(), false, live.clone()).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("not a loopback address"), "{err}");
        let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), false, live).unwrap();
        let mut s = TcpStream::connect(server.addr()).unwrap();
        s.write_all(b"POST /metrics HTTP/1.1\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.1 405"), "{text}");
    }
}
