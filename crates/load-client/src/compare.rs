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
//! folder is refused too: copy the whole folder. See [`check_complete`].
//!
//! # Matching and repetitions
//!
//! Rows are matched by (scenario, case). Several rows with the same key are
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
//! overrides some of them; the rest keep their default. `off` makes a metric
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

use crate::results::{
    human_us, open_summary, read_summary_file, SummaryCells, SummaryError, SummaryNeeds,
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

/// A results folder that is not a complete run: `run.json` is missing, or
/// a temporary file was left behind (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: incomplete results folder: {}; {ADVICE}", dir.display(), self.what())]
pub struct Incomplete {
    /// The folder.
    pub dir: PathBuf,
    /// Whether `run.json` is missing.
    pub no_run_json: bool,
    /// Names of stray temporary files (`.*.tmp*`), sorted.
    pub stray: Vec<String>,
}

const ADVICE: &str =
    "`load-client run` writes run.json last, so this run was cut short or is still going; \
     use a complete folder, or run the scenario again";

impl Incomplete {
    fn what(&self) -> String {
        let mut parts = Vec::new();
        if self.no_run_json {
            parts.push("no run.json beside summary.csv".to_string());
        }
        if !self.stray.is_empty() {
            parts.push(format!("stray temporary files {}", self.stray.join(", ")));
        }
        parts.join(" and ")
    }
}

/// Checks that `dir` holds a complete run: a `run.json`, and no `.*.tmp*`
/// file left by a write that never finished. A folder that cannot be listed
/// counts as incomplete only for the `run.json` test.
pub fn check_complete(dir: &Path) -> Result<(), Incomplete> {
    let no_run_json = !dir.join("run.json").is_file();
    let mut stray: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| name.starts_with('.') && name.contains(".tmp"))
                .collect()
        })
        .unwrap_or_default();
    stray.sort();
    if no_run_json || !stray.is_empty() {
        return Err(Incomplete {
            dir: dir.to_path_buf(),
            no_run_json,
            stray,
        });
    }
    Ok(())
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
    /// Rows in file order.
    pub rows: Vec<Row>,
}

/// One row of `summary.csv`: one repetition of one case.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Scenario name.
    pub scenario: String,
    /// Case name.
    pub case: String,
    /// 1-based repetition.
    pub repetition: u32,
    /// Successful requests per second.
    pub throughput: Option<f64>,
    /// The fastest request, µs; `None` when no request succeeded.
    pub min_us: Option<f64>,
    /// Latency percentiles in microseconds; `None` when no request succeeded.
    pub p50_us: Option<f64>,
    /// 90th percentile, µs.
    pub p90_us: Option<f64>,
    /// 99th percentile, µs.
    pub p99_us: Option<f64>,
    /// Largest latency, µs.
    pub max_us: Option<f64>,
    /// Failed requests over sent requests; `None` when none were sent.
    pub error_rate: Option<f64>,
}

/// Reads the `summary.csv` of a complete results folder, given the folder
/// or the file; an incomplete folder is refused (see [`check_complete`]).
pub fn load_summary(path: &Path) -> Result<Summary, CompareError> {
    let (dir, file) = if path.is_dir() {
        let file = path.join("summary.csv");
        if !file.is_file() {
            return Err(SummaryError::NoSummary {
                path: path.to_path_buf(),
                expected: "a summary.csv file or a results folder holding one",
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

/// One record as a [`Row`].
fn row(cells: &SummaryCells) -> Result<Row, SummaryError> {
    let repetition: u32 = cells.integer("repetition")?;
    if repetition == 0 {
        return Err(cells.bad("repetition", "a repetition number (1 or more)"));
    }
    let requests: u64 = cells.integer("requests")?;
    let errors: u64 = cells.integer("errors")?;
    if errors > requests {
        return Err(cells.bad("errors", "at most the number of requests"));
    }
    Ok(Row {
        scenario: cells.text("scenario").to_string(),
        case: cells.text("case").to_string(),
        repetition,
        throughput: cells.number("throughput")?,
        min_us: cells.number("lat_min_us")?,
        p50_us: cells.number("lat_p50_us")?,
        p90_us: cells.number("lat_p90_us")?,
        p99_us: cells.number("lat_p99_us")?,
        max_us: cells.number("lat_max_us")?,
        error_rate: (requests > 0).then(|| errors as f64 / requests as f64),
    })
}

/// A metric `compare` judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// Successful requests per second; higher is better.
    Throughput,
    /// The fastest request; lower is better.
    Min,
    /// Median latency; lower is better.
    P50,
    /// 90th percentile latency; lower is better.
    P90,
    /// 99th percentile latency; lower is better.
    P99,
    /// Largest latency; lower is better.
    Max,
    /// Failed over sent; lower is better, compared in percentage points.
    ErrorRate,
}

impl Metric {
    /// Every metric, in report order.
    pub const ALL: [Metric; 7] = [
        Metric::Throughput,
        Metric::Min,
        Metric::P50,
        Metric::P90,
        Metric::P99,
        Metric::Max,
        Metric::ErrorRate,
    ];

    /// Name used in `--max-regression` and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Throughput => "throughput",
            Metric::Min => "min",
            Metric::P50 => "p50",
            Metric::P90 => "p90",
            Metric::P99 => "p99",
            Metric::Max => "max",
            Metric::ErrorRate => "error_rate",
        }
    }

    fn higher_is_better(self) -> bool {
        self == Metric::Throughput
    }

    /// Whether the tolerance and change are absolute percentage points.
    fn in_points(self) -> bool {
        self == Metric::ErrorRate
    }

    fn value(self, row: &Row) -> Option<f64> {
        match self {
            Metric::Throughput => row.throughput,
            Metric::Min => row.min_us,
            Metric::P50 => row.p50_us,
            Metric::P90 => row.p90_us,
            Metric::P99 => row.p99_us,
            Metric::Max => row.max_us,
            Metric::ErrorRate => row.error_rate,
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Metric::Throughput => "req/s",
            Metric::ErrorRate => "fraction",
            _ => "us",
        }
    }

    /// A value in this metric's unit, for people.
    fn human(self, value: f64) -> String {
        match self {
            Metric::Throughput => format!("{value:.1}/s"),
            Metric::ErrorRate => format!("{:.2}%", value * 100.0),
            _ => human_us(value.round() as u64),
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much worse each metric may get before it is a regression: one
/// tolerance per metric, and optionally per case and metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Tolerances {
    /// Per metric, in [`Metric::ALL`] order once parsed.
    metrics: Vec<(Metric, Option<f64>)>,
    /// `CASE:METRIC` overrides, in the order given.
    cases: Vec<(String, Metric, Option<f64>)>,
}

impl Tolerances {
    /// The tolerance for `metric`: a fraction of the base (percentage
    /// points / 100 for the error rate); `None` when the metric is `off`.
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
        let parts: Vec<String> = Metric::ALL
            .iter()
            .map(|&m| format!("{m}={}", value(self.get(m))))
            .chain(
                self.cases
                    .iter()
                    .map(|(c, m, t)| format!("{c}:{m}={}", value(*t))),
            )
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Parses `--max-regression`: `METRIC=N%`, `METRIC=off`, `CASE:METRIC=N%`
/// or `CASE:METRIC=off`, separated by commas. Metrics not named keep their
/// default ([`DEFAULT_TOLERANCES`]); cases not named follow their metric.
pub fn parse_tolerances(text: &str) -> Result<Tolerances, String> {
    let mut t = Tolerances::default();
    apply(&mut t, text)?;
    Ok(t)
}

fn apply(t: &mut Tolerances, text: &str) -> Result<(), String> {
    let names = || Metric::ALL.map(Metric::as_str).join(", ");
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, value) = item.split_once('=').ok_or_else(|| {
            format!("{item:?}: expected METRIC=PERCENT or CASE:METRIC=PERCENT, e.g. p99=10%")
        })?;
        let (name, value) = (name.trim(), value.trim());
        let (case, name) = match name.rsplit_once(':') {
            Some((case, metric)) => (Some(case.trim()), metric.trim()),
            None => (None, name),
        };
        if case.is_some_and(str::is_empty) {
            return Err(format!(
                "{item:?}: no case name before \":\"; expected CASE:METRIC=PERCENT, e.g. rate:p50=15%"
            ));
        }
        let metric = Metric::ALL
            .into_iter()
            .find(|m| m.as_str() == name)
            .ok_or_else(|| format!("unknown metric {name:?}; expected one of {}", names()))?;
        let tolerance = if value == "off" {
            None
        } else {
            let percent = value
                .strip_suffix('%')
                .and_then(|n| n.trim().parse::<f64>().ok())
                .filter(|p| p.is_finite() && *p >= 0.0)
                .ok_or_else(|| {
                    format!("{item:?}: expected a non-negative percentage such as {name}=10%, or {name}=off")
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
    /// Where the case was found.
    pub presence: Presence,
    /// Repetitions in the base file.
    pub base_repetitions: usize,
    /// Repetitions in the new file.
    pub new_repetitions: usize,
    /// One entry per metric when the case is on both sides; empty otherwise.
    pub metrics: Vec<MetricComparison>,
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

type Key = (String, String);

/// Rows grouped by (scenario, case), keys in first-seen order.
fn group(summary: &Summary) -> (Vec<Key>, HashMap<Key, Vec<&Row>>) {
    let mut order = Vec::new();
    let mut groups: HashMap<Key, Vec<&Row>> = HashMap::new();
    for row in &summary.rows {
        let key = (row.scenario.clone(), row.case.clone());
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
            Metric::ALL
                .iter()
                .map(|&m| judge(m, stat(m, b), stat(m, n), tol.for_case(&key.1, m)))
                .collect()
        } else {
            Vec::new()
        };
        cases.push(CaseComparison {
            scenario: key.0.clone(),
            case: key.1.clone(),
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

fn stat(metric: Metric, rows: &[&Row]) -> Option<Stat> {
    let values: Vec<f64> = rows.iter().filter_map(|r| metric.value(r)).collect();
    Stat::of(&values)
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
    out.change = if metric.in_points() {
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
    let allowed = if metric.in_points() {
        tolerance
    } else {
        tolerance * b.median
    };
    let worse = if metric.higher_is_better() {
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
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(Format::Table),
            "markdown" => Ok(Format::Markdown),
            "csv" => Ok(Format::Csv),
            other => Err(format!(
                "unknown format {other:?}; expected table, markdown or csv"
            )),
        }
    }
}

/// Renders a comparison.
pub fn render(c: &Comparison, format: Format) -> String {
    match format {
        Format::Table => render_table(c),
        Format::Markdown => render_markdown(c),
        Format::Csv => render_csv(c),
    }
}

/// `FAIL: 3 metrics regressed in 2 of 5 cases; 1 improved, 0 noise` or
/// `PASS: no regression in 5 cases; 1 improved, 2 noise`, plus the cases
/// found on one side only.
fn headline(c: &Comparison) -> String {
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
    } else if metric.in_points() {
        format!("{value} (spread {:.2}pp)", s.spread * 100.0)
    } else if s.median > 0.0 {
        format!("{value} (spread {:.0}%)", s.spread / s.median * 100.0)
    } else {
        format!("{value} (spread {})", metric.human(s.spread))
    }
}

fn change_cell(m: &MetricComparison) -> String {
    match m.change {
        Some(c) if m.metric.in_points() => format!("{c:+.2}pp"),
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
                        case.case.clone(),
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
                    format!("{}{}", case.case, reps(n)),
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
            r[1] = case.case.clone();
            r[6] = case.base_repetitions.to_string();
            r[9] = case.new_repetitions.to_string();
            r[12] = label.to_string();
            records.push(r);
            continue;
        }
        for m in &case.metrics {
            records.push(vec![
                case.scenario.clone(),
                case.case.clone(),
                m.metric.to_string(),
                m.metric.unit().to_string(),
                num(m.base.map(|s| s.median)),
                num(m.base.map(|s| s.spread)),
                m.base.map_or(0, |s| s.samples).to_string(),
                num(m.new.map(|s| s.median)),
                num(m.new.map(|s| s.spread)),
                m.new.map_or(0, |s| s.samples).to_string(),
                num(m.change),
                if m.metric.in_points() { "pp" } else { "%" }.to_string(),
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
            ("p95=10%", "unknown metric \"p95\"; expected one of throughput, min, p50, p90, p99, max, error_rate"),
            ("rate:p95=10%", "unknown metric \"p95\"; expected one of throughput, min, p50, p90, p99, max, error_rate"),
            (":p99=10%", "\":p99=10%\": no case name before \":\"; expected CASE:METRIC=PERCENT, e.g. rate:p50=15%"),
            ("p99", "\"p99\": expected METRIC=PERCENT or CASE:METRIC=PERCENT, e.g. p99=10%"),
            ("p99=10", "\"p99=10\": expected a non-negative percentage such as p99=10%, or p99=off"),
            ("p99=-5%", "\"p99=-5%\": expected a non-negative percentage such as p99=10%, or p99=off"),
            ("p99=abc%", "\"p99=abc%\": expected a non-negative percentage such as p99=10%, or p99=off"),
        ];
        for (text, message) in cases {
            assert_eq!(parse_tolerances(text).unwrap_err(), message, "{text}");
        }
    }

    #[test]
    fn formats_parse() {
        assert_eq!("table".parse(), Ok(Format::Table));
        assert_eq!("markdown".parse(), Ok(Format::Markdown));
        assert_eq!("csv".parse(), Ok(Format::Csv));
        assert_eq!(
            "json".parse::<Format>(),
            Err("unknown format \"json\"; expected table, markdown or csv".to_string())
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
