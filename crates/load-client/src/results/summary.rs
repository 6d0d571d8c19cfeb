//! `summary.csv`: one row per case and repetition, the versioned contract
//! of the results folder. A case with a request mix has one more row per
//! entry after its total row (the `request` column names the entry; empty
//! on the total row), read back into [`CaseResult::parts`].
//!
//! Every column is one line of [`COLUMNS`]: its name, its unit, how to
//! write it from a [`CaseResult`] and, for the columns that hold a field
//! (not a ratio or a total derived from others), how to read it back. The
//! header and every record come from that one list, so they cannot
//! disagree. Adding a column is one line there, a README line, and a
//! [`SCHEMA_VERSION`] bump.
//!
//! Readers go through [`open_summary`], which finds columns by name and
//! names the file, line and column of anything wrong; [`read_results`]
//! reads whole rows back into [`CaseResult`]s.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use super::{CaseResult, Expectation, Latency, ServerView};
use crate::outcome::ErrorKind;

/// Version of the `summary.csv` header. Bumped whenever a column is added,
/// removed, renamed or changes meaning; readers refuse other versions.
pub const SCHEMA_VERSION: u32 = 3;

/// Writes one cell of a result.
pub type Get = fn(&CaseResult) -> String;

/// Puts one cell back into a result: an empty cell leaves the field as it
/// is; a cell that does not parse gives what the column holds, for
/// [`SummaryCells::bad`].
pub type Set = fn(&mut CaseResult, &str) -> Result<(), &'static str>;

/// One column of `summary.csv`.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Name in the header.
    pub name: &'static str,
    /// Unit of its values (empty for names and counts of nothing in
    /// particular).
    pub unit: &'static str,
    /// The cell, from a result.
    pub get: Get,
    /// The cell, back into a result; `None` for derived columns (totals,
    /// ratios, the versions), which are not read back.
    pub set: Option<Set>,
}

/// One entry of [`COLUMNS`]: a column, or the block of error columns.
#[derive(Debug, Clone, Copy)]
pub enum Entry {
    /// A column of its own.
    Column(Column),
    /// `err_<kind>` for every kind of [`ErrorKind::ALL`], in that order:
    /// failed requests of that kind.
    ErrorKinds,
}

/// A column that is written and read back.
const fn field(name: &'static str, unit: &'static str, get: Get, set: Set) -> Entry {
    Entry::Column(Column {
        name,
        unit,
        get,
        set: Some(set),
    })
}

/// A column that is only written.
const fn derived(name: &'static str, unit: &'static str, get: Get) -> Entry {
    Entry::Column(Column {
        name,
        unit,
        get,
        set: None,
    })
}

/// The columns of `summary.csv`, in order (see the README for each).
#[rustfmt::skip]
pub const COLUMNS: &[Entry] = &[
    derived("schema_version", "", |_| SCHEMA_VERSION.to_string()),
    field("scenario", "", |r| r.scenario.clone(), |r, v| text(&mut r.scenario, v)),
    field("case", "", |r| r.case.clone(), |r, v| text(&mut r.case, v)),
    field("base_case", "", |r| r.base_case.clone(), |r, v| text(&mut r.base_case, v)),
    field("request", "", |r| r.request.clone(), |r, v| text(&mut r.request, v)),
    field("repetition", "", |r| r.repetition.to_string(), |r, v| with(int(v)?, |n| r.repetition = n)),
    field("executor", "", |r| r.executor.clone(), |r, v| text(&mut r.executor, v)),
    field("runtime", "", |r| r.runtime.clone(), |r, v| text(&mut r.runtime, v)),
    field("connection", "", |r| r.connection.clone(), |r, v| text(&mut r.connection, v)),
    field("protocol", "", |r| r.protocol.clone(), |r, v| text(&mut r.protocol, v)),
    field("streams_per_connection", "requests", |r| r.streams_per_connection.to_string(), |r, v| with(int(v)?, |n| r.streams_per_connection = n)),
    field("concurrency", "requests", |r| opt(r.concurrency), |r, v| with(Some(int(v)?), |n| r.concurrency = n)),
    field("target_rate", "req/s", |r| opt(r.target_rate.map(float)), |r, v| with(Some(num(v)?), |x| r.target_rate = x)),
    field("requests", "requests", |r| r.requests.to_string(), |r, v| with(int(v)?, |n| r.requests = n)),
    field("ok", "requests", |r| r.ok.to_string(), |r, v| with(int(v)?, |n| r.ok = n)),
    derived("errors", "requests", |r| r.error_count().to_string()),
    Entry::ErrorKinds,
    field("wall_seconds", "s", |r| format!("{:.6}", r.wall_seconds), |r, v| with(num(v)?, |x| r.wall_seconds = x)),
    field("throughput", "req/s", |r| float(r.throughput), |r, v| with(num(v)?, |x| r.throughput = x)),
    field("achieved_rate", "req/s", |r| float(r.achieved_rate), |r, v| with(num(v)?, |x| r.achieved_rate = x)),
    field("late_sends", "requests", |r| r.late_sends.to_string(), |r, v| with(int(v)?, |n| r.late_sends = n)),
    field("skipped_sends", "requests", |r| r.skipped_sends.to_string(), |r, v| with(int(v)?, |n| r.skipped_sends = n)),
    field("connect_backoffs", "connects", |r| r.connect_backoffs.to_string(), |r, v| with(int(v)?, |n| r.connect_backoffs = n)),
    field("lat_min_us", "µs", |r| opt(r.latency.map(|l| l.min)), |r, v| with(int(v)?, |n| latency(r).min = n)),
    field("lat_mean_us", "µs", |r| opt(r.latency.map(|l| float(l.mean))), |r, v| with(num(v)?, |x| latency(r).mean = x)),
    field("lat_p50_us", "µs", |r| opt(r.latency.map(|l| l.p50)), |r, v| with(int(v)?, |n| latency(r).p50 = n)),
    field("lat_p90_us", "µs", |r| opt(r.latency.map(|l| l.p90)), |r, v| with(int(v)?, |n| latency(r).p90 = n)),
    field("lat_p99_us", "µs", |r| opt(r.latency.map(|l| l.p99)), |r, v| with(int(v)?, |n| latency(r).p99 = n)),
    field("lat_p999_us", "µs", |r| opt(r.latency.map(|l| l.p999)), |r, v| with(int(v)?, |n| latency(r).p999 = n)),
    field("lat_max_us", "µs", |r| opt(r.latency.map(|l| l.max)), |r, v| with(int(v)?, |n| latency(r).max = n)),
    field("svc_p50_us", "µs", |r| opt(r.service.map(|l| l.p50)), |r, v| with(int(v)?, |n| service(r).p50 = n)),
    field("svc_p99_us", "µs", |r| opt(r.service.map(|l| l.p99)), |r, v| with(int(v)?, |n| service(r).p99 = n)),
    field("connections_opened", "connections", |r| r.phases.connections_opened.to_string(), |r, v| with(int(v)?, |n| r.phases.connections_opened = n)),
    field("connect_p50_us", "µs", |r| opt(r.phases.connect.map(|l| l.p50)), |r, v| with(int(v)?, |n| phase(&mut r.phases.connect).p50 = n)),
    field("connect_p99_us", "µs", |r| opt(r.phases.connect.map(|l| l.p99)), |r, v| with(int(v)?, |n| phase(&mut r.phases.connect).p99 = n)),
    field("tls_p50_us", "µs", |r| opt(r.phases.tls.map(|l| l.p50)), |r, v| with(int(v)?, |n| phase(&mut r.phases.tls).p50 = n)),
    field("tls_p99_us", "µs", |r| opt(r.phases.tls.map(|l| l.p99)), |r, v| with(int(v)?, |n| phase(&mut r.phases.tls).p99 = n)),
    field("ttfb_p50_us", "µs", |r| opt(r.phases.ttfb.map(|l| l.p50)), |r, v| with(int(v)?, |n| phase(&mut r.phases.ttfb).p50 = n)),
    field("ttfb_p99_us", "µs", |r| opt(r.phases.ttfb.map(|l| l.p99)), |r, v| with(int(v)?, |n| phase(&mut r.phases.ttfb).p99 = n)),
    field("body_p50_us", "µs", |r| opt(r.phases.body.map(|l| l.p50)), |r, v| with(int(v)?, |n| phase(&mut r.phases.body).p50 = n)),
    field("body_p99_us", "µs", |r| opt(r.phases.body.map(|l| l.p99)), |r, v| with(int(v)?, |n| phase(&mut r.phases.body).p99 = n)),
    field("server_received", "requests", |r| opt(r.server.map(|s| s.received)), |r, v| with(int(v)?, |n| server(r).received = n)),
    field("server_peak_in_service", "requests", |r| opt(r.server.map(|s| s.peak_in_service)), |r, v| with(int(v)?, |n| server(r).peak_in_service = n)),
    field("server_peak_queued", "requests", |r| opt(r.server.map(|s| s.peak_queued)), |r, v| with(int(v)?, |n| server(r).peak_queued = n)),
    field("server_rejected", "requests", |r| opt(r.server.map(|s| s.rejected)), |r, v| with(int(v)?, |n| server(r).rejected = n)),
    field("server_dropped", "requests", |r| opt(r.server.map(|s| s.dropped)), |r, v| with(int(v)?, |n| server(r).dropped = n)),
    field("server_timed_out", "requests", |r| opt(r.server.map(|s| s.timed_out)), |r, v| with(int(v)?, |n| server(r).timed_out = n)),
    field("server_connections", "connections", |r| opt(r.server.map(|s| s.connections)), |r, v| with(int(v)?, |n| server(r).connections = n)),
    field("model_throughput", "req/s", |r| opt(r.model.map(|m| float(m.throughput))), |r, v| with(num(v)?, |x| model(r).throughput = x)),
    field("model_latency_us", "µs", |r| opt(r.model.map(|m| m.latency.as_micros())), |r, v| with(int(v)?, |n| model(r).latency = Duration::from_micros(n))),
    field("model_wall_seconds", "s", |r| opt(r.model.and_then(|m| m.wall).map(|w| format!("{:.6}", w.as_secs_f64()))), |r, v| with(num(v)?, |x| model(r).wall = Some(seconds(x)))),
    derived("throughput_vs_model", "ratio", |r| opt(r.throughput_vs_model().map(float))),
    derived("latency_vs_model", "ratio", |r| opt(r.latency_vs_model().map(float))),
    field("statuses", "status:count;…", statuses, read_statuses),
    field("interrupted", "", |r| r.interrupted.to_string(), |r, v| with(flag(v)?, |b| r.interrupted = b)),
    derived("tool_version", "", |_| crate::VERSION.to_string()),
];

/// One column of the header, with the block of error columns expanded.
#[derive(Debug, Clone, Copy)]
pub enum SummaryColumn {
    /// A column of [`COLUMNS`].
    Column(&'static Column),
    /// `err_<kind>`.
    Errors(ErrorKind),
}

impl SummaryColumn {
    /// Name in the header.
    pub fn name(&self) -> Cow<'static, str> {
        match self {
            SummaryColumn::Column(c) => Cow::Borrowed(c.name),
            SummaryColumn::Errors(kind) => Cow::Owned(format!("err_{}", kind.as_str())),
        }
    }

    /// Unit of its values.
    pub fn unit(&self) -> &'static str {
        match self {
            SummaryColumn::Column(c) => c.unit,
            SummaryColumn::Errors(_) => "requests",
        }
    }

    /// The cell, from a result.
    pub fn get(&self, r: &CaseResult) -> String {
        match self {
            SummaryColumn::Column(c) => (c.get)(r),
            SummaryColumn::Errors(kind) => r.errors.get(*kind).to_string(),
        }
    }

    /// Puts the cell back into a result; `None` for a derived column.
    pub fn set(&self, r: &mut CaseResult, cell: &str) -> Option<Result<(), &'static str>> {
        match self {
            SummaryColumn::Column(c) => c.set.map(|set| set(r, cell)),
            SummaryColumn::Errors(kind) => {
                let at = kind.index();
                Some(int(cell).and_then(|n| with(n, |n| r.errors.0[at] = n)))
            }
        }
    }
}

/// Every column, in header order.
pub fn columns() -> impl Iterator<Item = SummaryColumn> {
    COLUMNS.iter().flat_map(|entry| match entry {
        Entry::Column(c) => vec![SummaryColumn::Column(c)],
        Entry::ErrorKinds => ErrorKind::ALL.map(SummaryColumn::Errors).to_vec(),
    })
}

/// The `summary.csv` header, in order. See the README for each column.
pub fn csv_header() -> Vec<String> {
    columns().map(|c| c.name().into_owned()).collect()
}

impl CaseResult {
    /// This result as a `summary.csv` record, in [`csv_header`] order.
    pub fn csv_record(&self) -> Vec<String> {
        columns().map(|c| c.get(self)).collect()
    }
}

/// Writes results as `summary.csv` text.
pub fn to_csv(results: &[CaseResult]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(csv_header())?;
    for r in results {
        w.write_record(r.csv_record())?;
        for part in &r.parts {
            w.write_record(part.csv_record())?;
        }
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
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

fn statuses(r: &CaseResult) -> String {
    r.statuses
        .iter()
        .map(|(s, n)| format!("{s}:{n}"))
        .collect::<Vec<_>>()
        .join(";")
}

fn read_statuses(r: &mut CaseResult, cell: &str) -> Result<(), &'static str> {
    const EXPECTED: &str = "status:count pairs separated by ';'";
    for pair in cell.split(';').filter(|p| !p.is_empty()) {
        let (status, count) = pair.split_once(':').ok_or(EXPECTED)?;
        let status = status.trim().parse().map_err(|_| EXPECTED)?;
        let count = count.trim().parse().map_err(|_| EXPECTED)?;
        r.statuses.insert(status, count);
    }
    Ok(())
}

/// Applies a parsed cell; an empty one (`None`) changes nothing.
fn with<T>(value: Option<T>, put: impl FnOnce(T)) -> Result<(), &'static str> {
    if let Some(value) = value {
        put(value);
    }
    Ok(())
}

fn text(field: &mut String, cell: &str) -> Result<(), &'static str> {
    cell.clone_into(field);
    Ok(())
}

fn int<T: FromStr>(cell: &str) -> Result<Option<T>, &'static str> {
    if cell.is_empty() {
        return Ok(None);
    }
    cell.parse()
        .map(Some)
        .map_err(|_| "a whole number or empty")
}

fn num(cell: &str) -> Result<Option<f64>, &'static str> {
    if cell.is_empty() {
        return Ok(None);
    }
    match cell.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(Some(v)),
        _ => Err("a non-negative number or empty"),
    }
}

fn flag(cell: &str) -> Result<Option<bool>, &'static str> {
    match cell {
        "" => Ok(None),
        "true" => Ok(Some(true)),
        "false" => Ok(Some(false)),
        _ => Err("true, false or empty"),
    }
}

/// Seconds written with six decimals, back to whole microseconds.
fn seconds(x: f64) -> Duration {
    Duration::from_micros((x * 1e6).round() as u64)
}

fn latency(r: &mut CaseResult) -> &mut Latency {
    r.latency.get_or_insert_with(Latency::default)
}

fn service(r: &mut CaseResult) -> &mut Latency {
    r.service.get_or_insert_with(Latency::default)
}

fn phase(slot: &mut Option<Latency>) -> &mut Latency {
    slot.get_or_insert_with(Latency::default)
}

fn server(r: &mut CaseResult) -> &mut ServerView {
    r.server.get_or_insert_with(ServerView::default)
}

fn model(r: &mut CaseResult) -> &mut Expectation {
    r.model.get_or_insert_with(Expectation::default)
}

/// Reads `summary.csv` back into results, every column that holds a field
/// ([`Column::set`]), found by name. `needs` says which columns must be
/// there; any other column that is missing, and every empty cell, leaves
/// its field at its default (`None` for the optional parts).
///
/// What does not come back: the error total and the ratios (derived from
/// other columns), the model's utilisation (not in the file), the service
/// latency's percentiles other than p50 and p99, and every float beyond
/// the precision written (3 decimals, 6 for seconds). Everything the
/// results table shows does.
pub fn read_results(
    path: &Path,
    bytes: &[u8],
    needs: SummaryNeeds,
) -> Result<Vec<CaseResult>, SummaryError> {
    let (header, records) = open_summary(path, bytes, needs)?;
    let mut results = Vec::new();
    for record in records {
        let record = record?;
        let cells = header.cells(&record);
        cells.check_version()?;
        if results.is_empty() {
            header.require_columns()?;
        }
        let mut result = CaseResult::default();
        for column in columns() {
            let name = column.name();
            if let Some(Err(expected)) = column.set(&mut result, cells.text(&name)) {
                return Err(cells.bad(&name, expected));
            }
        }
        if result.request.is_empty() {
            results.push(result);
            continue;
        }
        match results.last_mut() {
            Some(total)
                if total.case == result.case
                    && total.scenario == result.scenario
                    && total.repetition == result.repetition =>
            {
                total.parts.push(result);
            }
            _ => {
                return Err(cells.bad(
                    "request",
                    "empty here: a request's row follows its case's total row",
                ))
            }
        }
    }
    if results.is_empty() {
        return Err(SummaryError::NoRows {
            path: path.to_path_buf(),
        });
    }
    Ok(results)
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
    /// A `summary.json` that is not JSON or not a summary's shape.
    #[error("{}: not a valid summary.json: {message}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
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

/// Reads a summary file's bytes as `summary.csv` text: a `.json` file
/// (`summary.json`) is turned into the CSV it holds
/// ([`super::summary_json::to_summary_csv`]), anything else is read as is.
pub fn read_summary_file(file: &Path) -> Result<Vec<u8>, SummaryError> {
    let bytes = std::fs::read(file).map_err(|source| SummaryError::Io {
        path: file.to_path_buf(),
        source,
    })?;
    if file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        return super::summary_json::to_summary_csv(&bytes).map_err(|e| SummaryError::Json {
            path: file.to_path_buf(),
            message: e.to_string(),
        });
    }
    Ok(bytes)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A result whose every field that the summary keeps has a value of its
    /// own, exactly representable at the precision written.
    fn distinct() -> CaseResult {
        let mut errors = crate::outcome::ErrorCounts::default();
        for (i, kind) in ErrorKind::ALL.iter().enumerate() {
            errors.add_many(*kind, 100 + i as u64);
        }
        CaseResult {
            scenario: "s".into(),
            case: "c-7".into(),
            base_case: "c".into(),
            repetition: 3,
            executor: "tasks".into(),
            runtime: "multi_thread".into(),
            connection: "reuse".into(),
            protocol: "http2".into(),
            streams_per_connection: 4,
            concurrency: Some(7),
            target_rate: Some(250.5),
            requests: 5_000,
            ok: 3_000,
            errors,
            statuses: BTreeMap::from([(200, 3_000), (503, 11)]),
            wall_seconds: 2.5,
            throughput: 1_200.25,
            achieved_rate: 1_999.75,
            late_sends: 11,
            skipped_sends: 12,
            connect_backoffs: 13,
            phases: super::super::PhaseTimes {
                connections_opened: 14,
                connect: Some(Latency {
                    p50: 51,
                    p99: 52,
                    ..Latency::default()
                }),
                tls: Some(Latency {
                    p50: 53,
                    p99: 54,
                    ..Latency::default()
                }),
                ttfb: Some(Latency {
                    p50: 55,
                    p99: 56,
                    ..Latency::default()
                }),
                body: Some(Latency {
                    p50: 57,
                    p99: 58,
                    ..Latency::default()
                }),
            },
            first_error: None,
            latency: Some(Latency {
                min: 21,
                mean: 22.5,
                p50: 23,
                p90: 24,
                p99: 25,
                p999: 26,
                max: 27,
            }),
            service: Some(Latency {
                p50: 31,
                p99: 32,
                ..Latency::default()
            }),
            server: Some(ServerView {
                received: 41,
                peak_in_service: 42,
                peak_queued: 43,
                rejected: 44,
                dropped: 45,
                timed_out: 46,
                connections: 3,
            }),
            model: Some(Expectation {
                throughput: 1_250.0,
                latency: Duration::from_micros(5_600),
                wall: Some(Duration::from_micros(2_000_333)),
                utilisation: None,
            }),
            interrupted: true,
            request: String::new(),
            parts: Vec::new(),
        }
    }

    const ALL: SummaryNeeds = SummaryNeeds {
        columns: &["schema_version"],
        needed_by: "this test",
        on_other_version: "",
    };

    /// The header and the records come from one list: each cell read back
    /// by its header name is the cell that column writes.
    #[test]
    fn every_column_reads_back_under_its_own_name() {
        let r = distinct();
        let bytes = to_csv(std::slice::from_ref(&r)).unwrap();
        let mut reader = csv::Reader::from_reader(&bytes[..]);
        let header = reader.headers().unwrap().clone();
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(header.len(), record.len());
        assert_eq!(header.len(), columns().count());
        for column in columns() {
            let name = column.name();
            let at = header.iter().position(|h| h == name).unwrap();
            assert_eq!(&record[at], column.get(&r), "column {name}");
        }
        let names = csv_header();
        let unique: std::collections::BTreeSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "duplicate column names");
        assert!(names.iter().all(|n| !n.is_empty()));
        assert_eq!(names[0], "schema_version");
        assert_eq!(names.last().map(String::as_str), Some("tool_version"));
    }

    #[test]
    fn results_round_trip_through_the_summary() {
        let r = distinct();
        let mut other = CaseResult {
            case: "c-8".into(),
            concurrency: None,
            latency: None,
            service: None,
            server: None,
            model: None,
            statuses: BTreeMap::new(),
            interrupted: false,
            ..distinct()
        };
        other.errors = Default::default();
        let part = CaseResult {
            request: "login".into(),
            case: "c-8".into(),
            server: None,
            model: None,
            ..distinct()
        };
        other.parts = vec![
            part.clone(),
            CaseResult {
                request: "home".into(),
                ..part
            },
        ];
        let bytes = to_csv(&[r.clone(), other.clone()]).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(text.lines().count(), 5, "header, two totals, two parts");
        let back = read_results(Path::new("summary.csv"), &bytes, ALL).unwrap();
        assert_eq!(back, [r, other]);
    }

    #[test]
    fn a_bad_cell_names_its_line_and_column() {
        let text = String::from_utf8(to_csv(&[distinct()]).unwrap()).unwrap();
        let text = text.replacen(",true,", ",maybe,", 1);
        assert!(text.contains(",maybe,"), "{text}");
        let err = read_results(Path::new("out/summary.csv"), text.as_bytes(), ALL).unwrap_err();
        assert_eq!(
            err.to_string(),
            "out/summary.csv: line 2, column \"interrupted\": \"maybe\" is not true, false or empty"
        );
    }
}
