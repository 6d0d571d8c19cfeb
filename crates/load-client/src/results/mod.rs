//! The results folder: the plain data of a case's result, and every file a
//! run leaves behind, each format's writer beside its reader.
//!
//! - [`summary`]: `summary.csv`, one row per case, produced from one table
//!   of columns ([`summary::COLUMNS`]) and read back by header name;
//! - [`hgrm`]: `<case>.hgrm`, HdrHistogram's percentile distribution;
//! - [`hdr`]: `<case>.hdr` and `<case>.hlog`, the compressed histograms
//!   (whole case, and per second as an interval log);
//! - [`timeline`]: `<case>.timeline.csv`, per-second counts and percentiles;
//! - [`summary_json`]: `summary.json`, the summary typed, with checks,
//!   knees and metadata;
//! - [`verdicts`]: `checks.csv`, the checks' verdicts;
//! - [`junit`]: `checks.xml`, the verdicts in JUnit XML;
//! - [`run_json`]: `run.json`, the run's metadata, written last;
//! - [`files`]: the file names, the atomic write, and the list of writers
//!   `run` loops over.
//!
//! This module is a leaf: it knows nothing of scenarios, executors, the
//! runner, the queueing model or the commands that read it. The runner
//! fills these structs; writers only read them; no writer measures
//! anything.

use hdrhistogram::Histogram;
use mock_server::StatsSnapshot;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::outcome::ErrorCounts;

pub mod files;
pub mod hdr;
pub mod hgrm;
pub mod junit;
pub mod run_json;
pub mod summary;
pub mod summary_json;
pub mod timeline;
pub mod verdicts;

pub use summary::{
    csv_header, open_summary, read_summary_file, to_csv, SummaryCells, SummaryError, SummaryHeader,
    SummaryNeeds, SummaryRecords, SCHEMA_VERSION,
};

/// Latency percentiles of one histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    /// Smallest value.
    pub min: u64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest value.
    pub max: u64,
}

impl Latency {
    /// Percentiles of a histogram; `None` when it is empty.
    pub fn of(h: &Histogram<u64>) -> Option<Latency> {
        (!h.is_empty()).then(|| Latency {
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        })
    }
}

/// What the embedded server saw during one case (counter differences and
/// the case's own peaks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerView {
    /// Requests the server received.
    pub received: u64,
    /// Most requests in service at once.
    pub peak_in_service: u64,
    /// Most requests waiting in its queue at once.
    pub peak_queued: u64,
    /// Answered with the reject status because the queue was full.
    pub rejected: u64,
    /// Closed or reset without an answer.
    pub dropped: u64,
    /// Gave up waiting in the queue (503).
    pub timed_out: u64,
    /// Connections the server accepted.
    pub connections: u64,
}

impl ServerView {
    /// The difference between two snapshots, with the peaks of `after`.
    pub fn between(before: &StatsSnapshot, after: &StatsSnapshot) -> ServerView {
        ServerView {
            received: after.received.saturating_sub(before.received),
            peak_in_service: after.peak_in_service,
            peak_queued: after.peak_queued,
            rejected: after.rejected.saturating_sub(before.rejected),
            dropped: after.dropped.saturating_sub(before.dropped),
            timed_out: after.timed_out.saturating_sub(before.timed_out),
            connections: after
                .connections_accepted
                .saturating_sub(before.connections_accepted),
        }
    }
}

/// Connections opened in a case's measured phase and the percentiles of
/// each phase of its requests (see `recorder::Phases`); `None` for a phase
/// nothing was recorded in (no TLS on plain HTTP, no connect on a case that
/// reused warm connections).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhaseTimes {
    /// Connections opened.
    pub connections_opened: u64,
    /// TCP connect time.
    pub connect: Option<Latency>,
    /// TLS handshake time.
    pub tls: Option<Latency>,
    /// Time to first byte (request written to first byte of the answer).
    pub ttfb: Option<Latency>,
    /// Body time (first byte of the answer to its end).
    pub body: Option<Latency>,
}

/// What the queueing model expects of one case, as plain data; the model
/// (`model::ServerModel::expect`) computes it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Expectation {
    /// Expected throughput, requests per second (infinite when D is zero).
    pub throughput: f64,
    /// Expected mean latency.
    pub latency: Duration,
    /// Expected wall time of a count-bounded case.
    pub wall: Option<Duration>,
    /// Open loop only: utilisation λ·D/C (0 for unlimited capacity).
    pub utilisation: Option<f64>,
}

/// One case's result: one row of `summary.csv`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseResult {
    /// Scenario name.
    pub scenario: String,
    /// Case name (after sweep expansion).
    pub case: String,
    /// Case name in the file (before sweep expansion).
    pub base_case: String,
    /// The entry of a request mix this row is about; empty for a case's
    /// total row.
    pub request: String,
    /// 1-based repetition number (`run --repeat`).
    pub repetition: u32,
    /// Executor name.
    pub executor: String,
    /// `current_thread`, `multi_thread`, or `blocking` for `sequential`.
    pub runtime: String,
    /// `reuse` or `per_request`.
    pub connection: String,
    /// `http1` or `http2`.
    pub protocol: String,
    /// HTTP/2: requests in flight per connection (1 for HTTP/1.1).
    pub streams_per_connection: u32,
    /// Requests in flight at most (closed loop); `None` for the open loop.
    pub concurrency: Option<u64>,
    /// Open loop: target rate, requests per second.
    pub target_rate: Option<f64>,
    /// Requests sent in the measured phase.
    pub requests: u64,
    /// Successful requests (status below 400, full body read).
    pub ok: u64,
    /// Failed requests by kind. `ok + errors.total() == requests` always.
    pub errors: ErrorCounts,
    /// Responses by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Wall time of the measured phase, seconds.
    pub wall_seconds: f64,
    /// Successful requests per second of wall time.
    pub throughput: f64,
    /// Requests that left the client per second of wall time (the achieved
    /// rate): those that failed before a connection could even be attempted
    /// (`too_many_open_files`, `ports_exhausted`) are not counted.
    pub achieved_rate: f64,
    /// Open loop: sends made more than 5 ms after their intended time.
    pub late_sends: u64,
    /// Open loop: intended sends never made because the case ended first.
    pub skipped_sends: u64,
    /// Connects delayed by the back-off after a failed connect.
    pub connect_backoffs: u64,
    /// Connections opened and where the time of requests went.
    pub phases: PhaseTimes,
    /// The first error the case met, in words (`tls_certificate: ...`);
    /// printed under the table, not part of `summary.csv`.
    pub first_error: Option<String>,
    /// Latency of successful requests (open loop: from the intended time).
    pub latency: Option<Latency>,
    /// Open loop: plain service time of successful requests.
    pub service: Option<Latency>,
    /// What the embedded server saw, when the target is the embedded server.
    pub server: Option<ServerView>,
    /// The queueing model's expectation, when the target is the embedded server.
    pub model: Option<Expectation>,
    /// Whether the run was interrupted during or before this case.
    pub interrupted: bool,
    /// A case's total row with a request mix: one row per entry (in mix
    /// order, `request` set, no server view or model), written after it.
    pub parts: Vec<CaseResult>,
}

impl CaseResult {
    /// Errors of every kind together.
    pub fn error_count(&self) -> u64 {
        self.errors.total()
    }

    /// Failed requests as a fraction of those sent (0 when none were sent).
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.error_count() as f64 / self.requests as f64
        }
    }

    /// Measured throughput over the model's (1.0 = as predicted).
    pub fn throughput_vs_model(&self) -> Option<f64> {
        let model = self.model?;
        (model.throughput.is_finite() && model.throughput > 0.0)
            .then(|| self.throughput / model.throughput)
    }

    /// Measured mean latency over the model's.
    pub fn latency_vs_model(&self) -> Option<f64> {
        let model = self.model?;
        let latency = self.latency?;
        (!model.latency.is_zero()).then(|| latency.mean / model.latency.as_micros() as f64)
    }
}

/// Microseconds as a short human string: `850us`, `201.7ms`, `1.012s`.
pub fn human_us(us: u64) -> String {
    match us {
        0..=999 => format!("{us}us"),
        1_000..=999_999 => format!("{:.1}ms", us as f64 / 1e3),
        _ => format!("{:.3}s", us as f64 / 1e6),
    }
}
