//! `load-client compare BASE NEW`: compares two `summary.csv` files case by
//! case and calls each metric `ok`, `improved`, `regressed` or `noise`.
//!
//! # Inputs
//!
//! Each side is a results folder written by `load-client run`, or the
//! `summary.csv` inside one. Columns are read by header name; the file must
//! carry this tool's [`SCHEMA_VERSION`](crate::results::SCHEMA_VERSION) and
//! every column listed in [`REQUIRED_COLUMNS`]. Anything else (an empty
//! file, junk, a missing column, a cell that is not a number) is a
//! [`CompareError`] naming the file, the line and the column.
//!
//! # Complete folders only
//!
//! `run` writes `run.json` last, after every other file, each under a
//! temporary name (`.NAME.tmp-PID`) renamed into place. So a folder is
//! **complete** when it holds `run.json` and no stray `.*.tmp*` file; a run
//! that was cut short (killed, disk full) or is still going fails that test.
//! [`load_summary`] refuses an incomplete folder with
//! [`CompareError::Incomplete`], naming the folder and what is missing (exit
//! code 2), rather than judge half a run. Given a `summary.csv` path, the
//! rule applies to the folder that holds it, so a summary copied out of its
//! folder is refused too: copy the whole folder. See
//! [`check_complete`].
//!
//! # Matching and repetitions
//!
//! Rows are matched by (scenario, case, request): with a request mix, each
//! entry's row is compared with the same entry's on the other side (shown
//! as `case/request`, judged with the case's tolerances). Several rows with
//! the same key are
//! repetitions of the case (`run --repeat K`): each metric is judged on the
//! **median** over the repetitions, and the **range** (smallest to largest)
//! is kept beside it; the tables show its width as the *spread*. Cases found
//! on one side only are listed as `only in base` / `only in new`; they are
//! not regressions by themselves.
//!
//! # Metrics and tolerances
//!
//! | metric       | better | tolerance is                      | default |
//! |--------------|--------|-----------------------------------|---------|
//! | `throughput` | higher | percent of the base median        | 10%     |
//! | `min`        | lower  | percent of the base median        | 10%     |
//! | `p50`        | lower  | percent of the base median        | 15%     |
//! | `p90`        | lower  | percent of the base median        | 20%     |
//! | `p99`        | lower  | percent of the base median        | 25%     |
//! | `max`        | lower  | percent of the base median        | off     |
//! | `error_rate` | lower  | absolute percentage points        | 1%      |
//!
//! (See [`DEFAULT_TOLERANCES`].) `--max-regression p99=10%,throughput=5%`
//! overrides some of them; the rest keep their default. The metrics are
//! those of [`crate::metric`]: any metric that is not a count may be named
//! (`p99.9`, `mean` and `wall` have no default and are judged only when
//! named), and is then shown after the defaults. `off` makes a metric
//! informational: it is shown, but never judged (the default for `max`, a
//! single outlier on a shared machine). For `error_rate`, `1%` means one
//! percentage point: 0.2% → 1.1% is within it, 0.2% → 1.3% is not.
//!
//! `CASE:METRIC=N%` (or `=off`) sets the tolerance of one case's metric and
//! wins over `METRIC=N%` for that case: `p50=off,rate:p50=15%` judges the
//! median latency of the case `rate` only. A case whose numbers a busy
//! machine moves (a burst of cold connections, one request in flight) can so
//! be judged on what it measures steadily, and the rest on everything.
//!
//! `min`, the fastest request, is there because the noise of a shared
//! machine is one-sided: a descheduled client or server only ever *adds*
//! time, so the floor of a case that does not queue moves with the code and
//! hardly with the load beside it (the reasoning behind BenchmarkTools.jl's
//! use of the minimum). A case that queues has no such floor: its fastest
//! request depends on when it arrived.
//!
//! # Verdicts
//!
//! With `change` the difference of the medians (new − base):
//! - `ok`: the change is within the tolerance;
//! - `noise`: beyond the tolerance, but the two sides are not told apart by
//!   their repetitions: the new median lies inside the base range **and**
//!   the base median inside the new range. One noisy side is not enough:
//!   if most new repetitions sit outside the base range, the medians say so
//!   and the change counts (a single repetition per side has a range of one
//!   value, so a change beyond the tolerance always counts);
//! - `regressed`: worse by more than the tolerance, and not noise;
//! - `improved`: better by more than the tolerance, and not noise;
//! - `info`: the metric's tolerance is `off`;
//! - `n/a`: a side has no value (e.g. no request succeeded, so no latency).
//!
//! Only `regressed` makes [`Comparison::has_regression`] true (exit code 1).
//!
//! # CSV output
//!
//! `--format csv` writes one row per case and metric:
//! `scenario,case,metric,unit,base,base_spread,base_samples,new,new_spread,new_samples,change,change_unit,verdict`,
//! values in the metric's unit (`us` for latency, `req/s`, `fraction` for the
//! error rate), `change` in `%` of the base, or in percentage points (`pp`)
//! for the error rate. Empty cells mean "no value".

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::metric::{Better, Kind, Metric};
use crate::outcome::{ErrorCounts, ErrorKind};
use crate::results::files::{self, check_complete, Incomplete};
use crate::results::{
    open_summary, read_summary_file, CaseResult, Latency, SummaryCells, SummaryError, SummaryNeeds,
};

/// The default tolerances, in the `--max-regression` syntax.
pub const DEFAULT_TOLERANCES: &str =
    "throughput=10%,min=10%,p50=15%,p90=20%,p99=25%,max=off,error_rate=1%";

/// Columns `compare` reads from `summary.csv`.
pub const REQUIRED_COLUMNS: &[&str] = &[
    "schema_version",
    "scenario",
    "case",
    "repetition",
    "requests",
    "errors",
    "throughput",
    "lat_min_us",
    "lat_p50_us",
    "lat_p90_us",
    "lat_p99_us",
    "lat_max_us",
];

/// Why a side could not be compared. Every message names the file or
/// folder, and where it applies, the line and column, and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// `summary.csv` could not be read (the shared [`SummaryError`]).
    #[error(transparent)]
    Summary(#[from] SummaryError),
    /// The folder is not a complete run.
    #[error(transparent)]
    Incomplete(#[from] Incomplete),
}

impl CompareError {
    /// The exit code of `compare` when a side cannot be read: 2.
    pub fn exit_code(&self) -> u8 {
        2
    }
}

/// What `compare` needs from a summary, and what its errors advise.
const NEEDS: SummaryNeeds = SummaryNeeds {
    columns: REQUIRED_COLUMNS,
    needed_by: "a summary.csv",
    on_other_version: "compare files written by the same schema version (re-run the older side)",
};

/// One `summary.csv`, reduced to what `compare` needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The file the rows were read from.
    pub path: PathBuf,
    /// Rows in file order: one repetition of one case each, holding what
    /// the comparable metrics read (names, requests, errors, throughput,
    /// wall time, latency); every other field is at its default, and the
    /// `errors` total is kept under [`ErrorKind::Other`].
    pub rows: Vec<CaseResult>,
}

/// Reads the summary of a complete results folder, given the folder or a
/// file; an incomplete folder is refused (see [`check_complete`]). A
/// folder is read through its `summary.csv`, or its `summary.json` when it
/// has no CSV (both hold the same rows); a file by its extension: `.json`
/// as `summary.json`, anything else as `summary.csv`.
pub fn load_summary(path: &Path) -> Result<Summary, CompareError> {
    let (dir, file) = if path.is_dir() {
        let csv = path.join(files::SUMMARY);
        let json = path.join(files::SUMMARY_JSON);
        let file = if !csv.is_file() && json.is_file() {
            json
        } else {
            csv
        };
        if !file.is_file() {
            return Err(SummaryError::NoSummary {
                path: path.to_path_buf(),
                expected: "a summary.csv or summary.json file, or a results folder holding one",
            }
            .into());
        }
        (path.to_path_buf(), file)
    } else {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        (dir.to_path_buf(), path.to_path_buf())
    };
    let bytes = read_summary_file(&file)?;
    check_complete(&dir)?;
    Ok(parse_summary(&file, &bytes)?)
}

/// Parses `summary.csv` text; `path` is only used in messages.
pub fn parse_summary(path: &Path, bytes: &[u8]) -> Result<Summary, SummaryError> {
    let (header, records) = open_summary(path, bytes, NEEDS)?;
    let records: Vec<csv::StringRecord> = records.collect::<Result<_, _>>()?;
    // The version comes first: a file of another version may well lack
    // columns, and the version is the more useful thing to say.
    if let Some(first) = records.first() {
        header.cells(first).check_version()?;
    }
    header.require_columns()?;
    let mut rows = Vec::new();
    for record in &records {
        let cells = header.cells(record);
        cells.check_version()?;
        rows.push(row(&cells)?);
    }
    let path = path.to_path_buf();
    if rows.is_empty() {
        return Err(SummaryError::NoRows { path });
    }
    Ok(Summary { path, rows })
}

/// One record as a [`CaseResult`] holding what the comparable metrics
/// ([`Metric::comparable`]) read: the names, the counts behind the error
/// rate, the throughput, the wall time and the latency statistics. The
/// per-kind error columns are not read: the `errors` total is kept under
/// [`ErrorKind::Other`], which is all the error rate needs. An empty
/// throughput or wall cell reads as NaN (no value); the latency is absent
/// when its cells are empty.
fn row(cells: &SummaryCells) -> Result<CaseResult, SummaryError> {
    let repetition: u32 = cells.integer("repetition")?;
    if repetition == 0 {
        return Err(cells.bad("repetition", "a repetition number (1 or more)"));
    }
    let requests: u64 = cells.integer("requests")?;
    let errors: u64 = cells.integer("errors")?;
    if errors > requests {
        return Err(cells.bad("errors", "at most the number of requests"));
    }
    let mut counts = ErrorCounts::default();
    counts.add_many(ErrorKind::Other, errors);
    Ok(CaseResult {
        scenario: cells.text("scenario").to_string(),
        case: cells.text("case").to_string(),
        request: cells.text("request").to_string(),
        repetition,
        requests,
        ok: requests - errors,
        errors: counts,
        throughput: cells.number("throughput")?.unwrap_or(f64::NAN),
        wall_seconds: cells.number("wall_seconds")?.unwrap_or(f64::NAN),
        latency: latency(cells)?,
        ..CaseResult::default()
    })
}

/// The latency columns of a record: `None` when the required ones are all
/// empty (no request succeeded), else all seven must hold a number (the
/// writer fills all or none).
fn latency(cells: &SummaryCells) -> Result<Option<Latency>, SummaryError> {
    const REQUIRED: [&str; 5] = [
        "lat_min_us",
        "lat_p50_us",
        "lat_p90_us",
        "lat_p99_us",
        "lat_max_us",
    ];
    let mut empty = true;
    for column in REQUIRED {
        empty &= cells.number(column)?.is_none();
    }
    if empty {
        return Ok(None);
    }
    let value = |column| -> Result<f64, SummaryError> {
        cells
            .number(column)?
            .ok_or_else(|| cells.bad(column, "a number, as the other latency columns have"))
    };
    let us = |column| value(column).map(|v| v.round() as u64);
    Ok(Some(Latency {
        min: us("lat_min_us")?,
        mean: value("lat_mean_us")?,
        p50: us("lat_p50_us")?,
        p90: us("lat_p90_us")?,
        p99: us("lat_p99_us")?,
        p999: us("lat_p999_us")?,
        max: us("lat_max_us")?,
    }))
}

/// How much worse each metric may get before it is a regression: one
/// tolerance per metric, and optionally per case and metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Tolerances {
    /// Per metric: the defaults in [`DEFAULT_TOLERANCES`] order, then the
    /// metrics named besides them in the order given.
    metrics: Vec<(Metric, Option<f64>)>,
    /// `CASE:METRIC` overrides, in the order given.
    cases: Vec<(String, Metric, Option<f64>)>,
}

impl Tolerances {
    /// The tolerance for `metric`: a fraction of the base (percentage
    /// points / 100 for the error rate); `None` when the metric is `off`
    /// or not judged at all.
    pub fn get(&self, metric: Metric) -> Option<f64> {
        self.metrics
            .iter()
            .find(|(m, _)| *m == metric)
            .and_then(|(_, t)| *t)
    }

    /// The tolerance for `metric` of the case `case`: its `CASE:METRIC`
    /// override if there is one, else [`Tolerances::get`].
    pub fn for_case(&self, case: &str, metric: Metric) -> Option<f64> {
        match self
            .cases
            .iter()
            .find(|(c, m, _)| c == case && *m == metric)
        {
            Some((_, _, t)) => *t,
            None => self.get(metric),
        }
    }

    /// The metrics shown for each case, in report order: every metric with
    /// a tolerance (`off` included), then those named only for a case.
    pub fn metrics(&self) -> Vec<Metric> {
        let mut out: Vec<Metric> = self.metrics.iter().map(|(m, _)| *m).collect();
        for (_, m, _) in &self.cases {
            if !out.contains(m) {
                out.push(*m);
            }
        }
        out
    }

    fn set(&mut self, case: Option<&str>, metric: Metric, tolerance: Option<f64>) {
        let Some(case) = case else {
            match self.metrics.iter_mut().find(|(m, _)| *m == metric) {
                Some(slot) => slot.1 = tolerance,
                None => self.metrics.push((metric, tolerance)),
            }
            return;
        };
        match self
            .cases
            .iter_mut()
            .find(|(c, m, _)| c == case && *m == metric)
        {
            Some(slot) => slot.2 = tolerance,
            None => self.cases.push((case.to_string(), metric, tolerance)),
        }
    }
}

impl Default for Tolerances {
    fn default() -> Self {
        let mut t = Tolerances {
            metrics: Vec::new(),
            cases: Vec::new(),
        };
        apply(&mut t, DEFAULT_TOLERANCES).expect("the default tolerances parse");
        t
    }
}

impl fmt::Display for Tolerances {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = |t: Option<f64>| match t {
            Some(t) => format!("{}%", trim_number(t * 100.0)),
            None => "off".to_string(),
        };
        let parts: Vec<String> = self
            .metrics
            .iter()
            .map(|(m, t)| format!("{m}={}", value(*t)))
            .chain(
                self.cases
                    .iter()
                    .map(|(c, m, t)| format!("{c}:{m}={}", value(*t))),
            )
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Why `--max-regression` could not be read. Each message quotes the item
/// and says what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToleranceError {
    /// An item without `=`.
    #[error("{item:?}: expected METRIC=PERCENT or CASE:METRIC=PERCENT, e.g. p99=10%")]
    NoValue {
        /// The item as written.
        item: String,
    },
    /// `:METRIC=...` with nothing before the colon.
    #[error(
        "{item:?}: no case name before \":\"; expected CASE:METRIC=PERCENT, e.g. rate:p50=15%"
    )]
    NoCase {
        /// The item as written.
        item: String,
    },
    /// A name that is not a metric.
    #[error("unknown metric {name:?}; expected one of {}", comparable_names())]
    UnknownMetric {
        /// The name as written.
        name: String,
    },
    /// A metric that `compare` does not judge (a count).
    #[error(
        "{name:?} is a count, which compare does not judge; expected one of {}",
        comparable_names()
    )]
    NotComparable {
        /// The name as written.
        name: String,
    },
    /// A value that is neither a percentage nor `off`.
    #[error("{item:?}: expected a non-negative percentage such as {name}=10%, or {name}=off")]
    BadPercent {
        /// The item as written.
        item: String,
        /// The metric's name.
        name: String,
    },
}

/// The names `--max-regression` accepts, for messages.
fn comparable_names() -> String {
    Metric::ALL
        .iter()
        .filter(|m| m.comparable())
        .map(|m| m.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses `--max-regression`: `METRIC=N%`, `METRIC=off`, `CASE:METRIC=N%`
/// or `CASE:METRIC=off`, separated by commas. Metrics not named keep their
/// default ([`DEFAULT_TOLERANCES`]); cases not named follow their metric.
/// Any [comparable](Metric::comparable) metric may be named; one without a
/// default is then shown and judged too.
pub fn parse_tolerances(text: &str) -> Result<Tolerances, ToleranceError> {
    let mut t = Tolerances::default();
    apply(&mut t, text)?;
    Ok(t)
}

fn apply(t: &mut Tolerances, text: &str) -> Result<(), ToleranceError> {
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, value) = item
            .split_once('=')
            .ok_or_else(|| ToleranceError::NoValue { item: item.into() })?;
        let (name, value) = (name.trim(), value.trim());
        let (case, name) = match name.rsplit_once(':') {
            Some((case, metric)) => (Some(case.trim()), metric.trim()),
            None => (None, name),
        };
        if case.is_some_and(str::is_empty) {
            return Err(ToleranceError::NoCase { item: item.into() });
        }
        let metric = Metric::from_name(name)
            .ok_or_else(|| ToleranceError::UnknownMetric { name: name.into() })?;
        if !metric.comparable() {
            return Err(ToleranceError::NotComparable { name: name.into() });
        }
        let tolerance = if value == "off" {
            None
        } else {
            let percent = value
                .strip_suffix('%')
                .and_then(|n| n.trim().parse::<f64>().ok())
                .filter(|p| p.is_finite() && *p >= 0.0)
                .ok_or_else(|| ToleranceError::BadPercent {
                    item: item.into(),
                    name: name.into(),
                })?;
            Some(percent / 100.0)
        };
        t.set(case, metric, tolerance);
    }
    Ok(())
}

/// The median and range of one metric over a case's repetitions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    /// Median over the repetitions that have a value.
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// Largest minus smallest; 0 for a single repetition.
    pub spread: f64,
    /// Repetitions that had a value.
    pub samples: usize,
}

impl Stat {
    /// `None` when no repetition had a value.
    pub fn of(values: &[f64]) -> Option<Stat> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Stat {
            median,
            min: v[0],
            max: v[n - 1],
            spread: v[n - 1] - v[0],
            samples: n,
        })
    }

    /// Whether `x` lies within this side's range.
    fn covers(&self, x: f64) -> bool {
        self.min <= x && x <= self.max
    }
}

/// The call for one metric of one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the tolerance.
    Ok,
    /// Better by more than the tolerance, and not noise.
    Improved,
    /// Worse by more than the tolerance, and not noise.
    Regressed,
    /// Beyond the tolerance, but each side's median lies within the other
    /// side's range: the repetitions do not tell the sides apart.
    Noise,
    /// Not judged: the metric's tolerance is `off`.
    Info,
    /// A side has no value.
    Missing,
}

impl Verdict {
    /// The word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Improved => "improved",
            Verdict::Regressed => "regressed",
            Verdict::Noise => "noise",
            Verdict::Info => "info",
            Verdict::Missing => "n/a",
        }
    }
}

/// One metric of one case on both sides.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricComparison {
    /// Which metric.
    pub metric: Metric,
    /// Base side.
    pub base: Option<Stat>,
    /// New side.
    pub new: Option<Stat>,
    /// New − base: percent of the base, or percentage points for the error
    /// rate; `None` when a side is missing or the base is zero.
    pub change: Option<f64>,
    /// The call.
    pub verdict: Verdict,
}

/// Where a case was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// On both sides; metrics are compared.
    Both,
    /// Only in the base file.
    OnlyBase,
    /// Only in the new file.
    OnlyNew,
}

/// One case on both sides.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseComparison {
    /// Scenario name.
    pub scenario: String,
    /// Case name.
    pub case: String,
    /// The entry of a request mix the row is about; empty for the case's
    /// total.
    pub request: String,
    /// Where the case was found.
    pub presence: Presence,
    /// Repetitions in the base file.
    pub base_repetitions: usize,
    /// Repetitions in the new file.
    pub new_repetitions: usize,
    /// One entry per metric when the case is on both sides; empty otherwise.
    pub metrics: Vec<MetricComparison>,
}

impl CaseComparison {
    /// The case as the outputs name it: `case`, or `case/request` for one
    /// entry of a request mix.
    pub fn label(&self) -> String {
        if self.request.is_empty() {
            self.case.clone()
        } else {
            format!("{}/{}", self.case, self.request)
        }
    }
}

/// The comparison of two summaries.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The base file.
    pub base: PathBuf,
    /// The new file.
    pub new: PathBuf,
    /// The tolerances applied.
    pub tolerances: Tolerances,
    /// Base cases in file order, then cases found only in the new file.
    pub cases: Vec<CaseComparison>,
}

impl Comparison {
    /// The exit code of `compare`: 1 when a metric regressed, else 0. (An
    /// input that cannot be read is 2: [`CompareError::exit_code`].)
    pub fn exit_code(&self) -> u8 {
        u8::from(self.has_regression())
    }

    /// Whether any metric of any case regressed.
    pub fn has_regression(&self) -> bool {
        self.count(Verdict::Regressed) > 0
    }

    /// How many metrics got this verdict.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.cases
            .iter()
            .flat_map(|c| &c.metrics)
            .filter(|m| m.verdict == verdict)
            .count()
    }

    fn count_presence(&self, presence: Presence) -> usize {
        self.cases.iter().filter(|c| c.presence == presence).count()
    }
}

/// Rows match by scenario, case and request (empty for a case's total).
type Key = (String, String, String);

/// Rows grouped by (scenario, case), keys in first-seen order.
fn group(summary: &Summary) -> (Vec<Key>, HashMap<Key, Vec<&CaseResult>>) {
    let mut order = Vec::new();
    let mut groups: HashMap<Key, Vec<&CaseResult>> = HashMap::new();
    for row in &summary.rows {
        let key = (row.scenario.clone(), row.case.clone(), row.request.clone());
        let entry = groups.entry(key.clone()).or_default();
        if entry.is_empty() {
            order.push(key);
        }
        entry.push(row);
    }
    (order, groups)
}

/// Compares two summaries case by case.
pub fn compare(base: &Summary, new: &Summary, tol: &Tolerances) -> Comparison {
    let (base_order, base_rows) = group(base);
    let (new_order, new_rows) = group(new);
    let mut cases = Vec::new();
    let keys = base_order
        .iter()
        .chain(new_order.iter().filter(|k| !base_rows.contains_key(*k)));
    for key in keys {
        let b = base_rows.get(key).map_or(&[][..], Vec::as_slice);
        let n = new_rows.get(key).map_or(&[][..], Vec::as_slice);
        let presence = match (b.is_empty(), n.is_empty()) {
            (false, false) => Presence::Both,
            (false, true) => Presence::OnlyBase,
            _ => Presence::OnlyNew,
        };
        let metrics = if presence == Presence::Both {
            tol.metrics()
                .into_iter()
                .map(|m| judge(m, stat(m, b), stat(m, n), tol.for_case(&key.1, m)))
                .collect()
        } else {
            Vec::new()
        };
        cases.push(CaseComparison {
            scenario: key.0.clone(),
            case: key.1.clone(),
            request: key.2.clone(),
            presence,
            base_repetitions: b.len(),
            new_repetitions: n.len(),
            metrics,
        });
    }
    Comparison {
        base: base.path.clone(),
        new: new.path.clone(),
        tolerances: tol.clone(),
        cases,
    }
}

fn stat(metric: Metric, rows: &[&CaseResult]) -> Option<Stat> {
    let values: Vec<f64> = rows.iter().filter_map(|r| metric.number(r)).collect();
    Stat::of(&values)
}

/// Whether the tolerance and change are absolute percentage points: for
/// fractions (the error rate).
fn in_points(metric: Metric) -> bool {
    metric.kind() == Kind::Fraction
}

/// Judges one metric. `tolerance` is a fraction of the base, or a fraction
/// (points / 100) for the error rate; `None` means informational.
fn judge(
    metric: Metric,
    base: Option<Stat>,
    new: Option<Stat>,
    tolerance: Option<f64>,
) -> MetricComparison {
    let mut out = MetricComparison {
        metric,
        base,
        new,
        change: None,
        verdict: Verdict::Missing,
    };
    let (Some(b), Some(n)) = (base, new) else {
        return out;
    };
    let delta = n.median - b.median;
    out.change = if in_points(metric) {
        Some(delta * 100.0)
    } else if b.median > 0.0 {
        Some(delta / b.median * 100.0)
    } else {
        None
    };
    let Some(tolerance) = tolerance else {
        out.verdict = Verdict::Info;
        return out;
    };
    let allowed = if in_points(metric) {
        tolerance
    } else {
        tolerance * b.median
    };
    let worse = if metric.better() == Better::Higher {
        -delta
    } else {
        delta
    };
    out.verdict = if worse.abs() <= allowed {
        Verdict::Ok
    } else if b.covers(n.median) && n.covers(b.median) {
        Verdict::Noise
    } else if worse > 0.0 {
        Verdict::Regressed
    } else {
        Verdict::Improved
    };
    out
}

/// Output formats of `compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Aligned text for a terminal.
    #[default]
    Table,
    /// GitHub-flavoured Markdown, for a pull-request comment or job summary.
    Markdown,
    /// One row per case and metric, raw numbers.
    Csv,
    /// JUnit XML: one test case per judged metric per case, failing when
    /// it regressed, for CI systems' test views.
    Junit,
}

/// A `--format` that is not one of [`Format`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?}; expected table, markdown, csv or junit")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(Format::Table),
            "markdown" => Ok(Format::Markdown),
            "csv" => Ok(Format::Csv),
            "junit" => Ok(Format::Junit),
            other => Err(UnknownFormat(other.to_string())),
        }
    }
}

/// Renders a comparison.
pub fn render(c: &Comparison, format: Format) -> String {
    match format {
        Format::Table => render_table(c),
        Format::Markdown => render_markdown(c),
        Format::Csv => render_csv(c),
        Format::Junit => render_junit(c),
    }
}

/// The comparison as JUnit XML: one suite per case compared on both
/// sides, one test case per judged metric (tolerance not `off`), failing
/// when the metric regressed, with both medians, the change and the
/// tolerance in the failure. Cases on one side only are not tests.
fn render_junit(c: &Comparison) -> String {
    use crate::results::junit::{to_xml, Suite, TestCase};
    let suites: Vec<Suite> = c
        .cases
        .iter()
        .filter(|case| case.presence == Presence::Both)
        .map(|case| Suite {
            name: format!("{}.{}", case.scenario, case.case),
            cases: case
                .metrics
                .iter()
                .filter(|m| m.verdict != Verdict::Info)
                .map(|m| TestCase {
                    name: m.metric.to_string(),
                    classname: format!("{}.{}", case.scenario, case.case),
                    failure: (m.verdict == Verdict::Regressed).then(|| {
                        let side = |s: Option<Stat>| {
                            s.map_or("n/a".to_string(), |s| trim_number(s.median))
                        };
                        let change = m.change.map_or("n/a".to_string(), |v| {
                            format!("{v:+.1}{}", if in_points(m.metric) { "pp" } else { "%" })
                        });
                        let tolerance = c.tolerances.for_case(&case.case, m.metric).map_or(
                            "off".to_string(),
                            |t| {
                                let unit = if in_points(m.metric) { "pp" } else { "%" };
                                format!("{}{unit}", trim_number(t * 100.0))
                            },
                        );
                        let message = format!(
                            "{} regressed: base {} -> new {} {} ({change}, tolerance {tolerance})",
                            m.metric,
                            side(m.base),
                            side(m.new),
                            m.metric.unit()
                        );
                        (message.clone(), format!("{message}\n"))
                    }),
                })
                .collect(),
        })
        .collect();
    to_xml("load-client compare", &suites)
}

/// `FAIL: 3 metrics regressed in 2 of 5 cases; 1 improved, 0 noise` or
/// `PASS: no regression in 5 cases; 1 improved, 2 noise`, plus the cases
/// found on one side only.
pub fn headline(c: &Comparison) -> String {
    let compared = c.count_presence(Presence::Both);
    let regressed_cases = c
        .cases
        .iter()
        .filter(|k| k.metrics.iter().any(|m| m.verdict == Verdict::Regressed))
        .count();
    let mut line = if c.has_regression() {
        let n = c.count(Verdict::Regressed);
        format!(
            "FAIL: {n} {} regressed in {regressed_cases} of {}",
            plural(n, "metric", "metrics"),
            cases(compared)
        )
    } else {
        format!("PASS: no regression in {}", cases(compared))
    };
    line.push_str(&format!(
        "; {} improved, {} noise",
        c.count(Verdict::Improved),
        c.count(Verdict::Noise)
    ));
    for (presence, label) in [
        (Presence::OnlyBase, "only in base"),
        (Presence::OnlyNew, "only in new"),
    ] {
        let n = c.count_presence(presence);
        if n > 0 {
            line.push_str(&format!("; {} {label}", cases(n)));
        }
    }
    line
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

fn cases(n: usize) -> String {
    format!("{n} {}", plural(n, "case", "cases"))
}

/// One value cell: `212ms`, or `212ms (spread 7%)` over repetitions.
fn value_cell(metric: Metric, stat: Option<Stat>) -> String {
    let Some(s) = stat else {
        return "-".to_string();
    };
    let value = metric.human(s.median);
    if s.samples < 2 {
        value
    } else if in_points(metric) {
        format!("{value} (spread {:.2}pp)", s.spread * 100.0)
    } else if s.median > 0.0 {
        format!("{value} (spread {:.0}%)", s.spread / s.median * 100.0)
    } else {
        format!("{value} (spread {})", metric.human(s.spread))
    }
}

fn change_cell(m: &MetricComparison) -> String {
    match m.change {
        Some(c) if in_points(m.metric) => format!("{c:+.2}pp"),
        Some(c) => format!("{c:+.1}%"),
        None => "-".to_string(),
    }
}

/// Text rows (scenario, case, metric, base, new, change, verdict).
fn rows(c: &Comparison) -> Vec<[String; 7]> {
    let mut out = Vec::new();
    for case in &c.cases {
        let reps = |n: usize| {
            if n > 1 {
                format!(" ×{n}")
            } else {
                String::new()
            }
        };
        match case.presence {
            Presence::Both => {
                for m in &case.metrics {
                    out.push([
                        case.scenario.clone(),
                        case.label(),
                        m.metric.to_string(),
                        value_cell(m.metric, m.base),
                        value_cell(m.metric, m.new),
                        change_cell(m),
                        m.verdict.as_str().to_string(),
                    ]);
                }
            }
            Presence::OnlyBase | Presence::OnlyNew => {
                let (label, n) = if case.presence == Presence::OnlyBase {
                    ("only in base", case.base_repetitions)
                } else {
                    ("only in new", case.new_repetitions)
                };
                let dash = || "-".to_string();
                out.push([
                    case.scenario.clone(),
                    format!("{}{}", case.label(), reps(n)),
                    dash(),
                    dash(),
                    dash(),
                    dash(),
                    label.to_string(),
                ]);
            }
        }
    }
    out
}

/// Whether every case belongs to one scenario, so the column can go.
fn single_scenario(c: &Comparison) -> Option<&str> {
    let first = c.cases.first()?.scenario.as_str();
    c.cases.iter().all(|k| k.scenario == first).then_some(first)
}

/// Rows for display: drops the scenario column when there is one scenario
/// and blanks the case name after its first metric.
fn display_rows(c: &Comparison) -> Vec<Vec<String>> {
    let single = single_scenario(c).is_some();
    let mut header = vec![
        "scenario", "case", "metric", "base", "new", "change", "verdict",
    ];
    if single {
        header.remove(0);
    }
    let mut out = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
    let mut previous: Option<(String, String)> = None;
    for row in rows(c) {
        let key = (row[0].clone(), row[1].clone());
        let mut cells = row.to_vec();
        if previous.as_ref() == Some(&key) {
            cells[0].clear();
            cells[1].clear();
        }
        previous = Some(key);
        if single {
            cells.remove(0);
        }
        out.push(cells);
    }
    out
}

/// Whether column `i` of `cols` display columns holds a number (base, new,
/// change: the three before the verdict), to align it right.
fn numeric_column(i: usize, cols: usize) -> bool {
    (cols.saturating_sub(4)..cols.saturating_sub(1)).contains(&i)
}

fn render_table(c: &Comparison) -> String {
    let mut out = format!("compare {} -> {}\n", c.base.display(), c.new.display());
    if let Some(s) = single_scenario(c) {
        out.push_str(&format!("scenario: {s}\n"));
    }
    out.push_str(&format!("tolerances: {}\n\n", c.tolerances));
    let rows = display_rows(c);
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for (n, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                let w = widths[i];
                if numeric_column(i, cols) {
                    format!("{cell:>w$}")
                } else {
                    format!("{cell:<w$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        if n == 0 {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (cols - 1)));
            out.push('\n');
        }
    }
    out.push('\n');
    out.push_str(&headline(c));
    out.push('\n');
    out
}

fn render_markdown(c: &Comparison) -> String {
    let mut out = format!("### load-client compare — {}\n\n", headline(c));
    out.push_str(&format!(
        "Base `{}`, new `{}`",
        c.base.display(),
        c.new.display()
    ));
    if let Some(s) = single_scenario(c) {
        out.push_str(&format!(", scenario `{s}`"));
    }
    out.push_str(&format!(". Tolerances: `{}`.\n\n", c.tolerances));
    let rows = display_rows(c);
    let escape = |s: &str| s.replace('|', "\\|");
    for (n, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                if n > 0 && i == row.len() - 1 && cell == "regressed" {
                    "**regressed**".to_string()
                } else {
                    escape(cell)
                }
            })
            .collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
        if n == 0 {
            let align: Vec<&str> = (0..row.len())
                .map(|i| {
                    if numeric_column(i, row.len()) {
                        "---:"
                    } else {
                        "---"
                    }
                })
                .collect();
            out.push_str(&format!("|{}|\n", align.join("|")));
        }
    }
    out
}

fn render_csv(c: &Comparison) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "scenario",
        "case",
        "metric",
        "unit",
        "base",
        "base_spread",
        "base_samples",
        "new",
        "new_spread",
        "new_samples",
        "change",
        "change_unit",
        "verdict",
    ];
    let mut records: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    let num = |v: Option<f64>| v.map_or(String::new(), trim_number);
    for case in &c.cases {
        let label = match case.presence {
            Presence::Both => None,
            Presence::OnlyBase => Some("only in base"),
            Presence::OnlyNew => Some("only in new"),
        };
        if let Some(label) = label {
            let mut r = vec![String::new(); header.len()];
            r[0] = case.scenario.clone();
            r[1] = case.label();
            r[6] = case.base_repetitions.to_string();
            r[9] = case.new_repetitions.to_string();
            r[12] = label.to_string();
            records.push(r);
            continue;
        }
        for m in &case.metrics {
            records.push(vec![
                case.scenario.clone(),
                case.label(),
                m.metric.to_string(),
                m.metric.unit().to_string(),
                num(m.base.map(|s| s.median)),
                num(m.base.map(|s| s.spread)),
                m.base.map_or(0, |s| s.samples).to_string(),
                num(m.new.map(|s| s.median)),
                num(m.new.map(|s| s.spread)),
                m.new.map_or(0, |s| s.samples).to_string(),
                num(m.change),
                if in_points(m.metric) { "pp" } else { "%" }.to_string(),
                m.verdict.as_str().to_string(),
            ]);
        }
    }
    for r in records {
        // Writing into a Vec cannot fail.
        let _ = w.write_record(&r);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// A number with at most 6 decimals and no trailing zeros.
fn trim_number(v: f64) -> String {
    let text = format!("{v:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(median: f64, spread: f64, samples: usize) -> Option<Stat> {
        Some(Stat {
            median,
            min: median - spread / 2.0,
            max: median + spread / 2.0,
            spread,
            samples,
        })
    }

    /// The statistic of these repetitions.
    fn reps(values: &[f64]) -> Option<Stat> {
        Stat::of(values)
    }

    #[test]
    fn median_and_range() {
        let s = |median, min, max, samples| {
            Some(Stat {
                median,
                min,
                max,
                spread: max - min,
                samples,
            })
        };
        assert_eq!(Stat::of(&[]), None);
        assert_eq!(Stat::of(&[5.0]), s(5.0, 5.0, 5.0, 1));
        assert_eq!(Stat::of(&[9.0, 1.0, 5.0]), s(5.0, 1.0, 9.0, 3));
        assert_eq!(Stat::of(&[4.0, 1.0, 2.0, 10.0]), s(3.0, 1.0, 10.0, 4));
    }

    #[test]
    fn verdicts_for_lower_and_higher_is_better() {
        let t = Some(0.10);
        let one = |v| stat(v, 0.0, 1);
        let cases = [
            (Metric::P99, 100.0, 105.0, Verdict::Ok),
            (Metric::P99, 100.0, 110.0, Verdict::Ok),
            (Metric::P99, 100.0, 111.0, Verdict::Regressed),
            (Metric::P99, 100.0, 80.0, Verdict::Improved),
            (Metric::Throughput, 100.0, 95.0, Verdict::Ok),
            (Metric::Throughput, 100.0, 80.0, Verdict::Regressed),
            (Metric::Throughput, 100.0, 120.0, Verdict::Improved),
            (Metric::Throughput, 0.0, 10.0, Verdict::Improved),
            (Metric::Throughput, 0.0, 0.0, Verdict::Ok),
        ];
        for (metric, base, new, verdict) in cases {
            let got = judge(metric, one(base), one(new), t);
            assert_eq!(got.verdict, verdict, "{metric} {base} -> {new}");
        }
    }

    #[test]
    fn error_rate_tolerance_is_in_points() {
        let one = |v| stat(v, 0.0, 1);
        let t = Some(0.01);
        let within = judge(Metric::ErrorRate, one(0.002), one(0.011), t);
        assert_eq!(within.verdict, Verdict::Ok);
        let beyond = judge(Metric::ErrorRate, one(0.002), one(0.013), t);
        assert_eq!(beyond.verdict, Verdict::Regressed);
        assert!((beyond.change.unwrap() - 1.1).abs() < 1e-9);
        // From zero errors: still a change in points, not an infinite percent.
        let from_zero = judge(Metric::ErrorRate, one(0.0), one(0.05), t);
        assert_eq!(from_zero.verdict, Verdict::Regressed);
    }

    #[test]
    fn noise_needs_each_median_inside_the_other_range() {
        // p99 in ms, tolerance 10%; lower is better.
        let t = Some(0.10);
        let table: [(&str, &[f64], &[f64], Verdict); 11] = [
            (
                "one sample each, beyond the tolerance",
                &[100.0],
                &[111.0],
                Verdict::Regressed,
            ),
            ("one sample each, within", &[100.0], &[109.0], Verdict::Ok),
            (
                "seen in CI: one wild new repetition does not hide +53%",
                &[20.4, 20.4, 20.5],
                &[20.5, 31.3, 35.0],
                Verdict::Regressed,
            ),
            (
                "one wild base repetition does not hide it either",
                &[20.0, 20.0, 50.0],
                &[30.0, 31.0, 32.0],
                Verdict::Regressed,
            ),
            (
                "both sides noisy and interleaved",
                &[100.0, 130.0, 160.0],
                &[120.0, 150.0, 180.0],
                Verdict::Noise,
            ),
            (
                "new median inside the base range, base median outside the new",
                &[80.0, 100.0, 140.0],
                &[125.0, 130.0, 135.0],
                Verdict::Regressed,
            ),
            (
                "ranges touch at the medians",
                &[90.0, 100.0, 120.0],
                &[100.0, 120.0, 125.0],
                Verdict::Noise,
            ),
            (
                "disjoint ranges",
                &[99.0, 100.0, 101.0],
                &[119.0, 120.0, 121.0],
                Verdict::Regressed,
            ),
            (
                "disjoint ranges, better",
                &[99.0, 100.0, 101.0],
                &[79.0, 80.0, 81.0],
                Verdict::Improved,
            ),
            (
                "noisy improvement",
                &[100.0, 130.0, 160.0],
                &[90.0, 110.0, 140.0],
                Verdict::Noise,
            ),
            (
                "within the tolerance however noisy",
                &[50.0, 100.0, 150.0],
                &[100.0, 105.0, 300.0],
                Verdict::Ok,
            ),
        ];
        for (name, base, new, verdict) in table {
            let got = judge(Metric::P99, reps(base), reps(new), t);
            assert_eq!(got.verdict, verdict, "{name}");
        }
        // Throughput: higher is better, the same rule.
        let got = judge(
            Metric::Throughput,
            reps(&[400.0, 492.0, 495.0]),
            reps(&[300.0, 420.0, 500.0]),
            t,
        );
        assert_eq!(got.verdict, Verdict::Noise);
        let got = judge(
            Metric::Throughput,
            reps(&[490.0, 492.0, 495.0]),
            reps(&[300.0, 310.0, 491.0]),
            t,
        );
        assert_eq!(got.verdict, Verdict::Regressed);
    }

    #[test]
    fn off_and_missing_are_never_regressions() {
        let got = judge(Metric::Max, stat(1.0, 0.0, 1), stat(100.0, 0.0, 1), None);
        assert_eq!(got.verdict, Verdict::Info);
        assert_eq!(got.change, Some(9900.0));
        let got = judge(Metric::P50, stat(1.0, 0.0, 1), None, Some(0.1));
        assert_eq!((got.verdict, got.change), (Verdict::Missing, None));
    }

    #[test]
    fn tolerances_parse_over_the_defaults() {
        let d = Tolerances::default();
        assert_eq!(d.to_string(), DEFAULT_TOLERANCES);
        assert_eq!(d.get(Metric::Max), None);
        let t = parse_tolerances("p99=10%, throughput=5%,max=50%").unwrap();
        assert_eq!(t.get(Metric::P99), Some(0.10));
        assert_eq!(t.get(Metric::Throughput), Some(0.05));
        assert_eq!(t.get(Metric::Max), Some(0.5));
        assert_eq!(t.get(Metric::P50), Some(0.15));
        assert_eq!(t.get(Metric::Min), Some(0.10));
        assert_eq!(parse_tolerances("").unwrap(), d);
        assert_eq!(parse_tolerances("p50=off").unwrap().get(Metric::P50), None);
    }

    #[test]
    fn case_tolerances_win_over_their_metric() {
        let t = parse_tolerances("p50=off, rate:p50=15%, unbounded:min=off, tasks-1.0:p99=50%")
            .unwrap();
        let table = [
            ("rate", Metric::P50, Some(0.15)),
            ("sequential", Metric::P50, None),
            ("unbounded", Metric::Min, None),
            ("rate", Metric::Min, Some(0.10)),
            ("tasks-1.0", Metric::P99, Some(0.5)),
            ("tasks-1", Metric::P99, Some(0.25)),
        ];
        for (case, metric, expected) in table {
            assert_eq!(t.for_case(case, metric), expected, "{case}:{metric}");
        }
        assert_eq!(
            t.to_string(),
            format!(
                "{},rate:p50=15%,unbounded:min=off,tasks-1.0:p99=50%",
                DEFAULT_TOLERANCES.replace("p50=15%", "p50=off")
            )
        );
        // The last word on a key wins.
        let t = parse_tolerances("rate:p50=15%,rate:p50=20%").unwrap();
        assert_eq!(t.for_case("rate", Metric::P50), Some(0.2));
        // The case override is used by compare.
        let base = judge(
            Metric::P50,
            stat(100.0, 0.0, 1),
            stat(140.0, 0.0, 1),
            t.for_case("x", Metric::P50),
        );
        assert_eq!(base.verdict, Verdict::Regressed);
    }

    #[test]
    fn bad_tolerances_say_what_is_allowed() {
        let cases = [
            ("p95=10%", "unknown metric \"p95\"; expected one of p50, p90, p99, p99.9, mean, min, max, wall, throughput, error_rate"),
            ("rate:p95=10%", "unknown metric \"p95\"; expected one of p50, p90, p99, p99.9, mean, min, max, wall, throughput, error_rate"),
            ("rejected=0%", "\"rejected\" is a count, which compare does not judge; expected one of p50, p90, p99, p99.9, mean, min, max, wall, throughput, error_rate"),
            (":p99=10%", "\":p99=10%\": no case name before \":\"; expected CASE:METRIC=PERCENT, e.g. rate:p50=15%"),
            ("p99", "\"p99\": expected METRIC=PERCENT or CASE:METRIC=PERCENT, e.g. p99=10%"),
            ("p99=10", "\"p99=10\": expected a non-negative percentage such as p99=10%, or p99=off"),
            ("p99=-5%", "\"p99=-5%\": expected a non-negative percentage such as p99=10%, or p99=off"),
            ("p99=abc%", "\"p99=abc%\": expected a non-negative percentage such as p99=10%, or p99=off"),
        ];
        for (text, message) in cases {
            assert_eq!(
                parse_tolerances(text).unwrap_err().to_string(),
                message,
                "{text}"
            );
        }
    }

    /// A one-row summary: p50/p90/p99/max/p99.9 from `p99_us`, 1% errors.
    fn summary(p99_us: u64, throughput: f64) -> Summary {
        let mut errors = ErrorCounts::default();
        errors.add_many(ErrorKind::Reset, 10);
        let row = CaseResult {
            scenario: "s".into(),
            case: "a".into(),
            repetition: 1,
            requests: 1000,
            ok: 990,
            errors,
            throughput,
            wall_seconds: 1000.0 / throughput,
            latency: Some(Latency {
                min: p99_us / 4,
                mean: p99_us as f64 / 2.0,
                p50: p99_us / 2,
                p90: p99_us * 8 / 10,
                p99: p99_us,
                p999: p99_us * 2,
                max: p99_us * 3,
            }),
            ..CaseResult::default()
        };
        Summary {
            path: PathBuf::from("x.csv"),
            rows: vec![row],
        }
    }

    #[test]
    fn exit_code_is_one_on_a_regression_and_zero_otherwise() {
        let t = Tolerances::default();
        let same = compare(&summary(1000, 100.0), &summary(1000, 100.0), &t);
        assert_eq!((same.has_regression(), same.exit_code()), (false, 0));
        let faster = compare(&summary(1000, 100.0), &summary(500, 200.0), &t);
        assert_eq!(
            (faster.count(Verdict::Improved) > 0, faster.exit_code()),
            (true, 0)
        );
        let slower = compare(&summary(1000, 100.0), &summary(2000, 50.0), &t);
        assert_eq!((slower.has_regression(), slower.exit_code()), (true, 1));
        let unreadable = CompareError::from(SummaryError::Empty {
            path: PathBuf::from("x.csv"),
        });
        assert_eq!(unreadable.exit_code(), 2);
    }

    #[test]
    fn a_metric_without_a_default_is_judged_when_named() {
        let names = |c: &Comparison| -> Vec<String> {
            c.cases[0]
                .metrics
                .iter()
                .map(|m| m.metric.to_string())
                .collect()
        };
        let (base, new) = (summary(1000, 100.0), summary(1000, 100.0));
        let default = compare(&base, &new, &Tolerances::default());
        assert_eq!(
            names(&default),
            [
                "throughput",
                "min",
                "p50",
                "p90",
                "p99",
                "max",
                "error_rate"
            ]
        );
        // p99.9 doubles while p99 stays: only a tolerance on p99.9 sees it.
        let mut worse = summary(1000, 100.0);
        if let Some(l) = worse.rows[0].latency.as_mut() {
            l.p999 *= 2;
        }
        let t = parse_tolerances("p99.9=10%,a:wall=5%").unwrap();
        let c = compare(&base, &worse, &t);
        assert_eq!(
            names(&c),
            [
                "throughput",
                "min",
                "p50",
                "p90",
                "p99",
                "max",
                "error_rate",
                "p99.9",
                "wall"
            ]
        );
        assert_eq!(c.cases[0].metrics[7].verdict, Verdict::Regressed);
        assert_eq!(c.cases[0].metrics[8].verdict, Verdict::Ok);
        assert!(
            t.to_string()
                .ends_with(",error_rate=1%,p99.9=10%,a:wall=5%"),
            "{t}"
        );
    }

    #[test]
    fn formats_parse() {
        assert_eq!("table".parse(), Ok(Format::Table));
        assert_eq!("markdown".parse(), Ok(Format::Markdown));
        assert_eq!("csv".parse(), Ok(Format::Csv));
        assert_eq!("junit".parse(), Ok(Format::Junit));
        assert_eq!(
            "json".parse::<Format>().unwrap_err().to_string(),
            "unknown format \"json\"; expected table, markdown, csv or junit"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_are_read_or_refused_without_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            let _ = parse_summary(Path::new("x.csv"), &bytes);
        }
    }
}
