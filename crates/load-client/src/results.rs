//! Results: plain, documented structs built from a [`Measurement`], and the
//! versioned `summary.csv` contract that reads and writes them.
//!
//! Writers (table, CSV, `.hgrm`, JSON, plots) only read these structs; no
//! writer measures anything.

use hdrhistogram::Histogram;
use mock_server::StatsSnapshot;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::executor::Measurement;
use crate::model::Expectation;
use crate::outcome::{ErrorCounts, ErrorKind};
use crate::scenario::Case;

/// Version of the `summary.csv` header. Bumped whenever a column is added,
/// removed, renamed or changes meaning; readers refuse other versions.
pub const SCHEMA_VERSION: u32 = 2;

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
        }
    }
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
    /// 1-based repetition number (`run --repeat`).
    pub repetition: u32,
    /// Executor name.
    pub executor: String,
    /// `current_thread`, `multi_thread`, or `blocking` for `sequential`.
    pub runtime: String,
    /// `reuse` or `per_request`.
    pub connection: String,
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
}

impl CaseResult {
    /// Builds a result from a measurement.
    pub fn new(scenario: &str, case: &Case, repetition: u32, m: &Measurement) -> CaseResult {
        let wall = m.wall.as_secs_f64();
        let per_second = |n: u64| if wall > 0.0 { n as f64 / wall } else { 0.0 };
        let open = case.shape.rate().is_some();
        let ok = m.recorder.ok_count();
        CaseResult {
            scenario: scenario.to_string(),
            case: case.name.clone(),
            base_case: case.base_name.clone(),
            repetition,
            executor: case.shape.executor().as_str().to_string(),
            runtime: match case.shape.executor() {
                crate::scenario::ExecutorKind::Sequential => "blocking".into(),
                _ => serde_name(&case.runtime),
            },
            connection: serde_name(&case.connection),
            concurrency: case.shape.concurrency(),
            target_rate: case.shape.rate().map(|r| r.per_second()),
            requests: m.launched,
            ok,
            errors: m.recorder.errors,
            statuses: m.recorder.statuses.clone(),
            wall_seconds: wall,
            throughput: per_second(ok),
            achieved_rate: per_second(m.launched.saturating_sub(never_left(&m.recorder.errors))),
            late_sends: m.recorder.late,
            skipped_sends: m.skipped,
            connect_backoffs: m.connect_backoffs,
            latency: Latency::of(&m.recorder.ok),
            service: if open {
                Latency::of(&m.recorder.service)
            } else {
                None
            },
            server: None,
            model: None,
            interrupted: false,
        }
    }

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

/// Requests that failed inside the client, before anything was sent.
fn never_left(errors: &ErrorCounts) -> u64 {
    errors.get(ErrorKind::TooManyOpenFiles) + errors.get(ErrorKind::PortsExhausted)
}

fn serde_name<T: serde::Serialize>(value: &T) -> String {
    serde_yaml::to_string(value)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The `summary.csv` header, in order. See the README for each column.
pub fn csv_header() -> Vec<String> {
    let mut cols: Vec<String> = [
        "schema_version",
        "scenario",
        "case",
        "base_case",
        "repetition",
        "executor",
        "runtime",
        "connection",
        "concurrency",
        "target_rate",
        "requests",
        "ok",
        "errors",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    cols.extend(ErrorKind::ALL.iter().map(|k| format!("err_{}", k.as_str())));
    cols.extend(
        [
            "wall_seconds",
            "throughput",
            "achieved_rate",
            "late_sends",
            "skipped_sends",
            "connect_backoffs",
            "lat_min_us",
            "lat_mean_us",
            "lat_p50_us",
            "lat_p90_us",
            "lat_p99_us",
            "lat_p999_us",
            "lat_max_us",
            "svc_p50_us",
            "svc_p99_us",
            "server_received",
            "server_peak_in_service",
            "server_peak_queued",
            "server_rejected",
            "server_dropped",
            "server_timed_out",
            "model_throughput",
            "model_latency_us",
            "model_wall_seconds",
            "throughput_vs_model",
            "latency_vs_model",
            "statuses",
            "interrupted",
            "tool_version",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    cols
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn float(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        String::new()
    }
}

impl CaseResult {
    /// This result as a `summary.csv` record, in [`csv_header`] order.
    pub fn csv_record(&self) -> Vec<String> {
        let lat = self.latency;
        let svc = self.service;
        let srv = self.server;
        let mut rec = vec![
            SCHEMA_VERSION.to_string(),
            self.scenario.clone(),
            self.case.clone(),
            self.base_case.clone(),
            self.repetition.to_string(),
            self.executor.clone(),
            self.runtime.clone(),
            self.connection.clone(),
            opt(self.concurrency),
            opt(self.target_rate.map(float)),
            self.requests.to_string(),
            self.ok.to_string(),
            self.error_count().to_string(),
        ];
        rec.extend(
            ErrorKind::ALL
                .iter()
                .map(|k| self.errors.get(*k).to_string()),
        );
        rec.extend([
            format!("{:.6}", self.wall_seconds),
            float(self.throughput),
            float(self.achieved_rate),
            self.late_sends.to_string(),
            self.skipped_sends.to_string(),
            self.connect_backoffs.to_string(),
            opt(lat.map(|l| l.min)),
            opt(lat.map(|l| float(l.mean))),
            opt(lat.map(|l| l.p50)),
            opt(lat.map(|l| l.p90)),
            opt(lat.map(|l| l.p99)),
            opt(lat.map(|l| l.p999)),
            opt(lat.map(|l| l.max)),
            opt(svc.map(|l| l.p50)),
            opt(svc.map(|l| l.p99)),
            opt(srv.map(|s| s.received)),
            opt(srv.map(|s| s.peak_in_service)),
            opt(srv.map(|s| s.peak_queued)),
            opt(srv.map(|s| s.rejected)),
            opt(srv.map(|s| s.dropped)),
            opt(srv.map(|s| s.timed_out)),
            opt(self.model.map(|m| float(m.throughput))),
            opt(self.model.map(|m| m.latency.as_micros())),
            opt(self
                .model
                .and_then(|m| m.wall)
                .map(|w| format!("{:.6}", w.as_secs_f64()))),
            opt(self.throughput_vs_model().map(float)),
            opt(self.latency_vs_model().map(float)),
            self.statuses
                .iter()
                .map(|(s, n)| format!("{s}:{n}"))
                .collect::<Vec<_>>()
                .join(";"),
            self.interrupted.to_string(),
            crate::VERSION.to_string(),
        ]);
        rec
    }
}

/// Writes results as `summary.csv` text.
pub fn to_csv(results: &[CaseResult]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(csv_header())?;
    for r in results {
        w.write_record(r.csv_record())?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// What one reader of `summary.csv` needs from it, and the advice its
/// errors give. Each command that reads summaries has one of these.
#[derive(Debug, Clone, Copy)]
pub struct SummaryNeeds {
    /// Columns that must be in the header, in the order they are checked.
    pub columns: &'static [&'static str],
    /// Who needs the columns, as the missing-column error says it:
    /// `"report"` gives "report needs the columns ...".
    pub needed_by: &'static str,
    /// What to do about a file of another schema version.
    pub on_other_version: &'static str,
}

/// Why a `summary.csv` could not be read. Every message names the file, and
/// where it applies, the line and column, and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    /// The file or folder could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The path given.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A folder without `summary.csv`.
    #[error("{}: no summary.csv in this folder; expected {expected}", path.display())]
    NoSummary {
        /// The folder given.
        path: PathBuf,
        /// What was expected instead, as the reader's command puts it.
        expected: &'static str,
    },
    /// Nothing at all in the file.
    #[error("{}: the file is empty; expected a summary.csv with a header line", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The CSV itself is malformed (unequal row lengths, invalid UTF-8, ...).
    #[error("{}: line {line}: not a valid summary.csv: {message}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What the CSV reader said.
        message: String,
    },
    /// A needed column is not in the header.
    #[error("{}: line 1: missing column {column:?}; {} needs the columns {}", path.display(), needs.needed_by, needs.columns.join(", "))]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column that is missing.
        column: String,
        /// What the reader needs.
        needs: SummaryNeeds,
    },
    /// The file was written by a version with another CSV layout.
    #[error("{}: line {line}, column \"schema_version\": found {found:?}, but this load-client reads schema version {expected}; {}", path.display(), needs.on_other_version)]
    SchemaVersion {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// The version found.
        found: String,
        /// The version this build reads.
        expected: u32,
        /// What the reader needs.
        needs: SummaryNeeds,
    },
    /// A cell does not hold what its column should.
    #[error("{}: line {line}, column {column:?}: {value:?} is not {expected}", path.display())]
    BadValue {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// Column name.
        column: String,
        /// The cell as written.
        value: String,
        /// What the column holds.
        expected: &'static str,
    },
    /// A header but no results.
    #[error("{}: no result rows after the header; the run produced no results", path.display())]
    NoRows {
        /// The file.
        path: PathBuf,
    },
}

/// Reads a `summary.csv` file's bytes.
pub fn read_summary_file(file: &Path) -> Result<Vec<u8>, SummaryError> {
    std::fs::read(file).map_err(|source| SummaryError::Io {
        path: file.to_path_buf(),
        source,
    })
}

/// Opens `summary.csv` text: refuses an empty file, a malformed header and
/// a header without `schema_version`, and returns the header and the
/// records after it. `path` is only used in messages.
///
/// Nothing else is checked yet: each reader decides when to call
/// [`SummaryHeader::require_columns`] and [`SummaryCells::check_version`],
/// since a file of another version may well lack columns, and the version
/// is the more useful thing to say.
pub fn open_summary<'a>(
    path: &Path,
    bytes: &'a [u8],
    needs: SummaryNeeds,
) -> Result<(SummaryHeader, SummaryRecords<'a>), SummaryError> {
    let path = path.to_path_buf();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(SummaryError::Empty { path });
    }
    let mut reader = csv::ReaderBuilder::new().from_reader(bytes);
    let columns = reader.headers().map_err(|e| csv_error(&path, &e))?.clone();
    let mut header = SummaryHeader {
        path,
        columns,
        version_at: 0,
        needs,
    };
    header.version_at = header.index("schema_version")?;
    let records = SummaryRecords {
        path: header.path.clone(),
        records: reader.into_records(),
    };
    Ok((header, records))
}

fn csv_error(path: &Path, e: &csv::Error) -> SummaryError {
    SummaryError::Csv {
        path: path.to_path_buf(),
        line: e.position().map_or(1, |p| p.line()),
        message: e.to_string(),
    }
}

/// The header of a `summary.csv` being read: finds columns by name.
#[derive(Debug)]
pub struct SummaryHeader {
    path: PathBuf,
    columns: csv::StringRecord,
    version_at: usize,
    needs: SummaryNeeds,
}

impl SummaryHeader {
    /// The file, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks that every needed column is present; the first missing one,
    /// in [`SummaryNeeds::columns`] order, is the error.
    pub fn require_columns(&self) -> Result<(), SummaryError> {
        for column in self.needs.columns {
            self.index(column)?;
        }
        Ok(())
    }

    fn index(&self, name: &str) -> Result<usize, SummaryError> {
        self.columns
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| SummaryError::MissingColumn {
                path: self.path.clone(),
                column: name.to_string(),
                needs: self.needs,
            })
    }

    /// The cells of one record, read through this header.
    pub fn cells<'a>(&'a self, record: &'a csv::StringRecord) -> SummaryCells<'a> {
        SummaryCells {
            header: self,
            record,
        }
    }
}

/// The records of a `summary.csv` after its header, checked for CSV syntax
/// only.
pub struct SummaryRecords<'a> {
    path: PathBuf,
    records: csv::StringRecordsIntoIter<&'a [u8]>,
}

impl Iterator for SummaryRecords<'_> {
    type Item = Result<csv::StringRecord, SummaryError>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.records.next()?;
        Some(next.map_err(|e| csv_error(&self.path, &e)))
    }
}

/// One record being read, with what error messages need: typed cells by
/// column name.
pub struct SummaryCells<'a> {
    header: &'a SummaryHeader,
    record: &'a csv::StringRecord,
}

impl<'a> SummaryCells<'a> {
    /// 1-based line of the record.
    pub fn line(&self) -> u64 {
        self.record.position().map_or(0, |p| p.line())
    }

    /// Refuses a record of another schema version.
    pub fn check_version(&self) -> Result<(), SummaryError> {
        let found = self.record.get(self.header.version_at).unwrap_or("").trim();
        if found == SCHEMA_VERSION.to_string() {
            return Ok(());
        }
        Err(SummaryError::SchemaVersion {
            path: self.header.path.clone(),
            line: self.line(),
            found: found.to_string(),
            expected: SCHEMA_VERSION,
            needs: self.header.needs,
        })
    }

    /// The cell, trimmed; empty when the column is missing.
    pub fn text(&self, column: &str) -> &'a str {
        self.header
            .columns
            .iter()
            .position(|h| h.trim() == column)
            .and_then(|i| self.record.get(i))
            .unwrap_or("")
            .trim()
    }

    /// The error for a cell that is not `expected`.
    pub fn bad(&self, column: &str, expected: &'static str) -> SummaryError {
        SummaryError::BadValue {
            path: self.header.path.clone(),
            line: self.line(),
            column: column.to_string(),
            value: self.text(column).to_string(),
            expected,
        }
    }

    /// A whole number.
    pub fn integer<T: FromStr>(&self, column: &str) -> Result<T, SummaryError> {
        self.text(column)
            .parse()
            .map_err(|_| self.bad(column, "a whole number"))
    }

    /// A non-negative number, or `None` for an empty cell.
    pub fn number(&self, column: &str) -> Result<Option<f64>, SummaryError> {
        let text = self.text(column);
        if text.is_empty() {
            return Ok(None);
        }
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(Some(v)),
            _ => Err(self.bad(column, "a non-negative number or empty")),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_have_the_same_width() {
        let r = CaseResult {
            scenario: "s".into(),
            case: "c".into(),
            base_case: "c".into(),
            repetition: 1,
            executor: "tasks".into(),
            runtime: "multi_thread".into(),
            connection: "reuse".into(),
            concurrency: Some(5),
            target_rate: None,
            requests: 10,
            ok: 10,
            errors: ErrorCounts::default(),
            statuses: BTreeMap::from([(200, 10)]),
            wall_seconds: 0.2,
            throughput: 50.0,
            achieved_rate: 50.0,
            late_sends: 0,
            skipped_sends: 0,
            connect_backoffs: 0,
            latency: None,
            service: None,
            server: None,
            model: None,
            interrupted: false,
        };
        assert_eq!(csv_header().len(), r.csv_record().len());
        let text = String::from_utf8(to_csv(&[r]).unwrap()).unwrap();
        assert!(text.starts_with("schema_version,scenario,case,"));
        assert!(text.contains(",200:10,false,"));
    }
}
