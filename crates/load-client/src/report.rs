//! `load-client report DIR`: reads a results folder, finds its sweeps and
//! their knees, sets them beside the queueing model, and draws the plots.
//!
//! # Inputs
//!
//! - `summary.csv` (required), read by header name: the columns in
//!   [`REQUIRED_COLUMNS`], with this tool's schema version. Anything wrong
//!   is a [`ReportError`] naming the file, line and column.
//! - `run.json` (required, as the mark of a complete run): its `model`
//!   object, when present, gives the embedded server's parameters
//!   ([`ModelParams`]). Without it they are recovered from the
//!   `model_throughput` and `model_latency_us` columns (see [`ModelView`]).
//!
//! A folder without `run.json`, or with a stray `.*.tmp*` file, is not a
//! complete run (`run` writes `run.json` last): `report` refuses it with
//! [`ReportError::Incomplete`] rather than draw a knee from half a sweep,
//! the same rule as `compare` ([`crate::results::files::check_complete`]).
//! - `<case>.hgrm` and `<case>.timeline.csv` of the first repetition of each
//!   case; a missing or unreadable one leaves that case out of its plot with
//!   a warning.
//!
//! # Sweeps
//!
//! A sweep is every row of one base case (a case name in the scenario file)
//! that has a concurrency, or every row that has a target rate, when there
//! are at least two distinct values. Its knee is found by
//! `knee::find_knee` on (load, throughput, p50 latency); repetitions of a
//! load are merged by their median.
//!
//! # Outputs
//!
//! Written into the folder, each atomically (temporary name, then rename):
//! - `saturation.svg` for a single sweep, or `saturation-<base case>.svg`
//!   for each of several;
//! - `latency-percentiles.svg`: every case's percentile spectrum;
//! - `timeline.svg`: open-loop cases and cases longer than
//!   [`LONG_CASE_SECONDS`];
//! - a `.png` beside each SVG when a system font is found (otherwise a
//!   warning, never an error).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::knee::{self, format_load, Fall, Knee, KneeConfig, NoKnee, Point, Ratio};
use crate::model::{ModelFormula, Prediction};
pub use crate::model::{ModelParams, ModelSource, ModelView, SweepKind};
use crate::plot::{
    self, KneeMark, MeasuredPoint, ModelPoint, PercentileCurve, PngRenderer, SaturationData,
    TimelineCurve, TimelinePoint,
};
use crate::results::files::{self, write_atomic, CaseFile};
use crate::results::files::{check_complete, Incomplete};
use crate::results::hgrm::parse_hgrm;
use crate::results::run_json::RunInfo;
use crate::results::summary::read_results;
use crate::results::timeline::{read_timeline, TimelineError};
use crate::results::{
    open_summary, read_summary_file, CaseResult, SummaryCells, SummaryError, SummaryNeeds,
};

/// Columns `report` reads from `summary.csv`.
pub const REQUIRED_COLUMNS: &[&str] = &[
    "schema_version",
    "scenario",
    "case",
    "base_case",
    "repetition",
    "executor",
    "concurrency",
    "target_rate",
    "wall_seconds",
    "throughput",
    "lat_p50_us",
    "lat_p99_us",
    "model_throughput",
    "model_latency_us",
];

/// Cases at least this long get a timeline plot even in a closed loop.
pub const LONG_CASE_SECONDS: f64 = 5.0;

/// A last, partial second shorter than this is left off the timeline: its
/// rate would be mostly noise.
const MIN_PARTIAL_SECOND: f64 = 0.25;

/// Why a results folder could not be reported on.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// `summary.csv` could not be read; the message names the file, line
    /// and column.
    #[error(transparent)]
    Summary(#[from] SummaryError),
    /// The folder is not a complete run: no `run.json`, or a stray
    /// temporary file.
    #[error(transparent)]
    Incomplete(#[from] Incomplete),
    /// A plot could not be written into the folder.
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// What `report` needs from a summary, and what its errors advise.
const NEEDS: SummaryNeeds = SummaryNeeds {
    columns: REQUIRED_COLUMNS,
    needed_by: "report",
    on_other_version: "re-run the scenario with this version",
};

/// One case (repetition) of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepPoint {
    /// Case name.
    pub case: String,
    /// Repetition.
    pub repetition: u32,
    /// Concurrency or target rate.
    pub x: f64,
    /// Successful requests per second.
    pub throughput: Option<f64>,
    /// Median latency, µs.
    pub p50_us: Option<f64>,
    /// 99th percentile latency, µs.
    pub p99_us: Option<f64>,
    /// The model's throughput, req/s.
    pub model_throughput: Option<f64>,
    /// The model's latency, µs.
    pub model_latency_us: Option<f64>,
}

/// One sweep, its knee, and the model beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepReport {
    /// Scenario name.
    pub scenario: String,
    /// The case name in the scenario file.
    pub base_case: String,
    /// Executor name.
    pub executor: String,
    /// What the sweep varies.
    pub kind: SweepKind,
    /// The points, in file order.
    pub points: Vec<SweepPoint>,
    /// The knee, or why there is none.
    pub knee: Result<Knee, NoKnee>,
    /// The model's parameters, when the target was the embedded server.
    pub model: Option<ModelView>,
    /// Knee against the model: C (closed loop) or C/D (open loop).
    pub knee_vs_model: Option<Ratio>,
    /// Plateau against the model's C/D.
    pub plateau_vs_model: Option<Ratio>,
}

impl SweepReport {
    /// The unit of the load: `tasks`, `in flight` or `req/s`.
    pub fn unit(&self) -> &'static str {
        match (self.kind, self.executor.as_str()) {
            (SweepKind::Rate, _) => "req/s",
            (SweepKind::Concurrency, "tasks") => "tasks",
            (SweepKind::Concurrency, _) => "in flight",
        }
    }

    /// A load written for people with its unit: `1 task`, `16 tasks`,
    /// `4 in flight`, `500 req/s`.
    pub fn load(&self, number: &str) -> String {
        let unit = self.unit();
        if unit == "tasks" && number == "1" {
            "1 task".to_string()
        } else {
            format!("{number} {unit}")
        }
    }
}

/// What `report` found and wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The results folder.
    pub dir: PathBuf,
    /// Scenario names found in `summary.csv`.
    pub scenarios: Vec<String>,
    /// The sweeps, in file order.
    pub sweeps: Vec<SweepReport>,
    /// Plot files written, in order.
    pub plots: Vec<PathBuf>,
    /// Things left out, e.g. PNGs skipped for want of a font.
    pub warnings: Vec<String>,
    /// Every row of `summary.csv` read back as a result (see
    /// [`read_results`] for what comes back): what [`Report::table`] shows.
    pub results: Vec<CaseResult>,
}

/// One row of `summary.csv`, reduced to what `report` needs.
#[derive(Debug, Clone, PartialEq)]
struct CaseRow {
    scenario: String,
    case: String,
    base_case: String,
    repetition: u32,
    executor: String,
    concurrency: Option<f64>,
    target_rate: Option<f64>,
    wall_seconds: Option<f64>,
    throughput: Option<f64>,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    model_throughput: Option<f64>,
    model_latency_us: Option<f64>,
}

/// Reads a results folder, writes its plots, and says what it found.
pub fn generate(dir: &Path) -> Result<Report, ReportError> {
    let (rows, mut results) = read_summary(dir)?;
    check_complete(dir)?;
    let mut warnings = Vec::new();
    let params = read_model_params(dir, &mut warnings);
    if let Some(params) = params {
        restore_utilisation(&mut results, &params);
    }
    let sweeps: Vec<SweepReport> = group_sweeps(&rows)
        .into_iter()
        .map(|sweep| analyse(&sweep, params))
        .collect();
    let mut report = Report {
        dir: dir.to_path_buf(),
        scenarios: rows
            .iter()
            .map(|r| r.scenario.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        sweeps,
        plots: Vec::new(),
        warnings,
        results,
    };
    let plots = draw_all(dir, &rows, &report);
    write_plots(dir, plots, &mut report)?;
    Ok(report)
}

/// The summary as `report`'s rows, and as results for the table.
fn read_summary(dir: &Path) -> Result<(Vec<CaseRow>, Vec<CaseResult>), SummaryError> {
    let path = dir.join(files::SUMMARY);
    if !path.is_file() {
        return Err(SummaryError::NoSummary {
            path: dir.to_path_buf(),
            expected: "a results folder written by `load-client run`",
        });
    }
    let bytes = read_summary_file(&path)?;
    let rows = parse_summary(&path, &bytes)?;
    Ok((rows, read_results(&path, &bytes, NEEDS)?))
}

/// The model's utilisation of open-loop cases, which the summary does not
/// keep, from `run.json`'s parameters (as `run` computed it).
fn restore_utilisation(results: &mut [CaseResult], params: &ModelParams) {
    let server = params.server_model();
    for r in results {
        if let (Some(rate), Some(model)) = (r.target_rate, r.model.as_mut()) {
            model.utilisation = Some(server.utilisation(rate));
        }
    }
}

/// Parses `summary.csv` text; `path` is only used in messages.
fn parse_summary(path: &Path, bytes: &[u8]) -> Result<Vec<CaseRow>, SummaryError> {
    let (header, records) = open_summary(path, bytes, NEEDS)?;
    let mut rows = Vec::new();
    for record in records {
        let record = record?;
        let cells = header.cells(&record);
        cells.check_version()?;
        if rows.is_empty() {
            // After the version: a file of another version may well lack columns.
            header.require_columns()?;
        }
        rows.push(case_row(&cells)?);
    }
    if rows.is_empty() {
        return Err(SummaryError::NoRows {
            path: path.to_path_buf(),
        });
    }
    Ok(rows)
}

/// One record as a [`CaseRow`].
fn case_row(cells: &SummaryCells) -> Result<CaseRow, SummaryError> {
    let repetition = match cells.text("repetition").parse::<u32>() {
        Ok(r) if r > 0 => r,
        _ => return Err(cells.bad("repetition", "a repetition number (1 or more)")),
    };
    if cells.text("case").is_empty() {
        return Err(cells.bad("case", "a case name"));
    }
    Ok(CaseRow {
        scenario: cells.text("scenario").to_string(),
        case: cells.text("case").to_string(),
        base_case: cells.text("base_case").to_string(),
        repetition,
        executor: cells.text("executor").to_string(),
        concurrency: cells.number("concurrency")?,
        target_rate: cells.number("target_rate")?,
        wall_seconds: cells.number("wall_seconds")?,
        throughput: cells.number("throughput")?,
        p50_us: cells.number("lat_p50_us")?,
        p99_us: cells.number("lat_p99_us")?,
        model_throughput: cells.number("model_throughput")?,
        model_latency_us: cells.number("model_latency_us")?,
    })
}

/// The `model` object of `run.json`, if the file has one.
fn read_model_params(dir: &Path, warnings: &mut Vec<String>) -> Option<ModelParams> {
    let path = dir.join(files::RUN_JSON);
    if !path.is_file() {
        return None;
    }
    match RunInfo::read(&path) {
        Ok(info) => info.model,
        Err(e) => {
            warnings.push(format!("{e}; model parameters taken from summary.csv"));
            None
        }
    }
}

/// What makes rows one sweep: scenario, base case and kind.
type SweepKey<'a> = (&'a str, &'a str, SweepKind);

/// Groups rows into sweeps: same scenario, base case and kind, at least two
/// distinct loads. First-appearance order.
fn group_sweeps(rows: &[CaseRow]) -> Vec<Vec<&CaseRow>> {
    let mut groups: Vec<(SweepKey<'_>, Vec<&CaseRow>)> = Vec::new();
    for row in rows {
        let Some((kind, _)) = load_of(row) else {
            continue;
        };
        let key = (row.scenario.as_str(), row.base_case.as_str(), kind);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(row),
            None => groups.push((key, vec![row])),
        }
    }
    groups
        .into_iter()
        .map(|(_, members)| members)
        .filter(|members| {
            let loads: BTreeSet<u64> = members
                .iter()
                .filter_map(|r| load_of(r))
                .map(|(_, x)| x.to_bits())
                .collect();
            loads.len() >= 2
        })
        .collect()
}

fn load_of(row: &CaseRow) -> Option<(SweepKind, f64)> {
    match (row.concurrency, row.target_rate) {
        (Some(n), _) => Some((SweepKind::Concurrency, n)),
        (None, Some(rate)) => Some((SweepKind::Rate, rate)),
        (None, None) => None,
    }
}

fn analyse(rows: &[&CaseRow], params: Option<ModelParams>) -> SweepReport {
    let kind = rows
        .first()
        .and_then(|r| load_of(r))
        .map_or(SweepKind::Concurrency, |(k, _)| k);
    let points = sweep_points(rows);
    let knee_points: Vec<Point> = points
        .iter()
        .filter_map(|p| {
            Some(Point {
                x: p.x,
                throughput: p.throughput?,
                latency: p.p50_us,
            })
        })
        .collect();
    let knee = knee::find_knee(&knee_points, &KneeConfig::default());
    let model = model_view(kind, &points, params);
    let (knee_vs_model, plateau_vs_model) = match (&knee, model) {
        (Ok(k), Some(m)) => (
            m.expected_knee(kind).and_then(|e| Ratio::new(k.x, e)),
            m.saturation.and_then(|s| Ratio::new(k.plateau, s)),
        ),
        _ => (None, None),
    };
    let first = rows.first();
    SweepReport {
        scenario: first.map(|r| r.scenario.clone()).unwrap_or_default(),
        base_case: first.map(|r| r.base_case.clone()).unwrap_or_default(),
        executor: first.map(|r| r.executor.clone()).unwrap_or_default(),
        kind,
        points,
        knee,
        model,
        knee_vs_model,
        plateau_vs_model,
    }
}

fn sweep_points(rows: &[&CaseRow]) -> Vec<SweepPoint> {
    rows.iter()
        .filter_map(|r| {
            Some(SweepPoint {
                case: r.case.clone(),
                repetition: r.repetition,
                x: load_of(r)?.1,
                throughput: r.throughput,
                p50_us: r.p50_us,
                p99_us: r.p99_us,
                model_throughput: r.model_throughput,
                model_latency_us: r.model_latency_us,
            })
        })
        .collect()
}

/// The model's parameters for a sweep: from `run.json` when given, else
/// recovered from the summary's model columns (see [`ModelView`]).
fn model_view(
    kind: SweepKind,
    points: &[SweepPoint],
    params: Option<ModelParams>,
) -> Option<ModelView> {
    if let Some(p) = params {
        return Some(ModelView::from_params(&p));
    }
    let rows: Vec<(f64, f64, f64)> = points
        .iter()
        .filter_map(|p| Some((p.x, p.model_throughput?, p.model_latency_us?)))
        .collect();
    ModelView::infer(kind, &rows)
}

/// A plot to be written: file stem and SVG text.
struct PlotFile {
    stem: String,
    svg: String,
}

/// Draws every plot the folder calls for; failures become warnings.
fn draw_all(dir: &Path, rows: &[CaseRow], report: &Report) -> (Vec<PlotFile>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut drawn: Vec<(String, Result<String, plot::PlotError>)> = Vec::new();
    let several = report.sweeps.len() > 1;
    for sweep in &report.sweeps {
        let stem = if several {
            format!("saturation-{}", file_safe(&sweep.base_case))
        } else {
            "saturation".to_string()
        };
        drawn.push((stem, plot::saturation_svg(&saturation_data(sweep))));
    }
    let scenario = report.scenarios.join(", ");
    let first_runs: Vec<&CaseRow> = rows.iter().filter(|r| r.repetition == 1).collect();
    let curves = percentile_curves(dir, &first_runs, &mut warnings);
    if !curves.is_empty() {
        let note = if rows.iter().any(|r| r.repetition > 1) {
            " (first repetition of each case)"
        } else {
            ""
        };
        let title = format!("Latency by percentile: {scenario}{note}");
        drawn.push((
            "latency-percentiles".into(),
            plot::percentiles_svg(&title, &curves),
        ));
    }
    let timelines = timeline_curves(dir, &first_runs, &mut warnings);
    if !timelines.is_empty() {
        let title = format!("Per-second timeline: {scenario}");
        drawn.push(("timeline".into(), plot::timeline_svg(&title, &timelines)));
    }
    let mut files = Vec::new();
    for (stem, result) in drawn {
        match result {
            Ok(svg) => files.push(PlotFile { stem, svg }),
            Err(e) => warnings.push(format!("{stem}.svg: {e}")),
        }
    }
    (files, warnings)
}

/// A case or sweep name as a file-name part: path separators replaced.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn write_plots(
    dir: &Path,
    (files, warnings): (Vec<PlotFile>, Vec<String>),
    report: &mut Report,
) -> Result<(), ReportError> {
    report.warnings.extend(warnings);
    let renderer = if files.is_empty() {
        None
    } else {
        match PngRenderer::from_system() {
            Ok(r) => Some(r),
            Err(e) => {
                report.warnings.push(format!("PNG copies skipped: {e}"));
                None
            }
        }
    };
    for file in files {
        let svg_path = dir.join(format!("{}.svg", file.stem));
        write_atomic(&svg_path, file.svg.as_bytes()).map_err(|source| ReportError::Write {
            path: svg_path.clone(),
            source,
        })?;
        report.plots.push(svg_path);
        let Some(renderer) = &renderer else { continue };
        let png_path = dir.join(format!("{}.png", file.stem));
        match renderer.render(&file.svg) {
            Ok(png) => {
                write_atomic(&png_path, &png).map_err(|source| ReportError::Write {
                    path: png_path.clone(),
                    source,
                })?;
                report.plots.push(png_path);
            }
            Err(e) => report.warnings.push(format!("{}: {e}", png_path.display())),
        }
    }
    Ok(())
}

fn saturation_data(sweep: &SweepReport) -> SaturationData {
    let unit = sweep.unit();
    let ms = |us: Option<f64>| us.map(|v| v / 1e3);
    let measured = merge_repetitions(sweep.points.iter().filter_map(|p| {
        Some(MeasuredPoint {
            x: p.x,
            throughput: p.throughput?,
            p50_ms: ms(p.p50_us),
            p99_ms: ms(p.p99_us),
        })
    }));
    let (x_label, model_labels) = match sweep.kind {
        SweepKind::Concurrency => (
            format!(
                "concurrency ({})",
                if unit == "tasks" {
                    "tasks"
                } else {
                    "requests in flight"
                }
            ),
            (
                "model X = min(N, C)/D".to_string(),
                "model mean R = max(D, N·D/C)".to_string(),
            ),
        ),
        SweepKind::Rate => (
            "target rate (req/s)".to_string(),
            (
                "model X = min(λ, C/D)".to_string(),
                "model R = D while λ < C/D".to_string(),
            ),
        ),
    };
    SaturationData {
        title: saturation_title(sweep),
        x_label,
        measured,
        model: model_curve(sweep),
        model_labels,
        knee: sweep.knee.as_ref().ok().map(|k| KneeMark {
            x: k.x,
            plateau: k.plateau,
            label: format!("knee ≈ {}", sweep.load(&knee_number(k.x))),
        }),
    }
}

/// One point per load: the median of each value over its repetitions.
fn merge_repetitions(points: impl Iterator<Item = MeasuredPoint>) -> Vec<MeasuredPoint> {
    let mut points: Vec<MeasuredPoint> = points.collect();
    points.sort_by(|a, b| a.x.total_cmp(&b.x));
    points
        .chunk_by(|a, b| a.x == b.x)
        .map(|same| {
            let of = |f: fn(&MeasuredPoint) -> Option<f64>| {
                knee::median(&same.iter().filter_map(f).collect::<Vec<_>>())
            };
            MeasuredPoint {
                x: same[0].x,
                throughput: of(|p| Some(p.throughput)).unwrap_or(0.0),
                p50_ms: of(|p| p.p50_ms),
                p99_ms: of(|p| p.p99_ms),
            }
        })
        .collect()
}

fn saturation_title(sweep: &SweepReport) -> String {
    let mut title = format!("Saturation: {} / {}", sweep.scenario, sweep.base_case);
    if let Some(m) = sweep.model {
        let mut parts = Vec::new();
        if let Some(c) = m.capacity {
            parts.push(format!("C = {}", format_load(c)));
        }
        if let Some(d) = m.delay_us {
            parts.push(format!(
                "D = {}",
                crate::results::human_us(d.round() as u64)
            ));
        }
        if !parts.is_empty() {
            title.push_str(&format!(" (model: {})", parts.join(", ")));
        }
    }
    title
}

/// The model's curve over the sweep: dense when the parameters reproduce
/// the summary's model values, else those values joined point to point.
fn model_curve(sweep: &SweepReport) -> Vec<ModelPoint> {
    let mut listed: Vec<Prediction> = sweep
        .points
        .iter()
        .filter(|p| p.repetition == 1)
        .filter_map(|p| {
            let latency_ms = p.model_latency_us.map(|r| r / 1e3);
            let latency_ms = latency_ms.filter(|_| {
                sweep.kind == SweepKind::Concurrency
                    || p.model_throughput.is_some_and(|t| t >= p.x * (1.0 - 1e-6))
            });
            Some(Prediction {
                x: p.x,
                throughput: p.model_throughput?,
                latency_ms,
            })
        })
        .collect();
    listed.sort_by(|a, b| a.x.total_cmp(&b.x));
    let formula = sweep
        .model
        .and_then(|model| ModelFormula::new(sweep.kind, &model));
    let curve = match formula {
        Some(f) if listed.iter().all(|p| f.agrees_with(p)) => {
            f.dense(sweep.points.iter().map(|p| p.x))
        }
        _ => listed,
    };
    curve
        .into_iter()
        .map(|p| ModelPoint {
            x: p.x,
            throughput: p.throughput,
            latency_ms: p.latency_ms,
        })
        .collect()
}

fn percentile_curves(
    dir: &Path,
    rows: &[&CaseRow],
    warnings: &mut Vec<String>,
) -> Vec<PercentileCurve> {
    let mut curves = Vec::new();
    for row in rows {
        let Some(text) = read_case_file(dir, &row.case, CaseFile::Hgrm, warnings) else {
            continue;
        };
        match parse_hgrm(&text) {
            Ok(rows) if !rows.is_empty() => curves.push(PercentileCurve {
                label: row.case.clone(),
                points: rows.iter().map(|&(v, q, _)| (v, q)).collect(),
            }),
            Ok(_) => {}
            Err(e) => warnings.push(format!(
                "{}.hgrm: {e}; left out of latency-percentiles",
                row.case
            )),
        }
    }
    curves
}

/// Reads a file of the first repetition of `case` in the folder; a missing
/// or unreadable file is a warning. Case names that are not plain file
/// names are never read.
fn read_case_file(
    dir: &Path,
    case: &str,
    file: CaseFile,
    warnings: &mut Vec<String>,
) -> Option<String> {
    let ext = file.extension();
    let name = file.name(case, 1);
    if Path::new(&name).file_name().and_then(|n| n.to_str()) != Some(name.as_str())
        || case.starts_with('.')
    {
        warnings.push(format!(
            "case {case:?}: not a plain file name; its .{ext} file is left out"
        ));
        return None;
    }
    match std::fs::read_to_string(dir.join(&name)) {
        Ok(text) => Some(text),
        Err(e) => {
            warnings.push(format!("{name}: cannot read ({e}); left out of the plots"));
            None
        }
    }
}

fn timeline_curves(
    dir: &Path,
    rows: &[&CaseRow],
    warnings: &mut Vec<String>,
) -> Vec<TimelineCurve> {
    let mut curves = Vec::new();
    for row in rows.iter().filter(|r| {
        r.target_rate.is_some() || r.wall_seconds.is_some_and(|w| w >= LONG_CASE_SECONDS)
    }) {
        let Some(text) = read_case_file(dir, &row.case, CaseFile::Timeline, warnings) else {
            continue;
        };
        match parse_timeline(&text, row.wall_seconds) {
            Ok(points) if !points.is_empty() => curves.push(TimelineCurve {
                label: row.case.clone(),
                points,
                target_rate: row.target_rate,
            }),
            Ok(_) => {}
            Err(e) => warnings.push(format!(
                "{}.timeline.csv: {e}; left out of the timeline",
                row.case
            )),
        }
    }
    curves
}

/// The timeline's points: each second lasts 1 s but the last, which lasts
/// what remains of `wall` (and is dropped when that is under
/// [`MIN_PARTIAL_SECOND`]).
fn parse_timeline(text: &str, wall: Option<f64>) -> Result<Vec<TimelinePoint>, TimelineError> {
    let seconds = read_timeline(text)?;
    let n = seconds.len();
    let last_length = wall
        .map(|w| w - (n as f64 - 1.0))
        .filter(|l| *l > 0.0 && *l <= 1.0)
        .unwrap_or(1.0);
    Ok(seconds
        .into_iter()
        .enumerate()
        .filter_map(|(i, row)| {
            let length = if i + 1 == n { last_length } else { 1.0 };
            (length >= MIN_PARTIAL_SECOND).then(|| TimelinePoint {
                t: i as f64 + length / 2.0,
                rate: row.ok as f64 / length,
                p99_ms: row.p99_us.map(|us| us as f64 / 1e3),
            })
        })
        .collect())
}

impl Report {
    /// The results table, as `run` prints it after a run: one line per
    /// case, then a line per case with errors, by kind.
    pub fn table(&self) -> String {
        let mut out = crate::table::render(&self.results);
        for line in self.results.iter().filter_map(crate::table::error_summary) {
            out.push_str(&format!("errors  {line}\n"));
        }
        out
    }

    /// A short text summary: one line per sweep (nothing when there is
    /// none), the plots written, and any warnings.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for sweep in &self.sweeps {
            out.push_str(&render_sweep(sweep));
            out.push('\n');
        }
        if !self.plots.is_empty() {
            let names: Vec<String> = self
                .plots
                .iter()
                .map(|p| {
                    p.file_name().map_or_else(
                        || p.display().to_string(),
                        |n| n.to_string_lossy().into_owned(),
                    )
                })
                .collect();
            out.push_str(&format!("plots: {}\n", names.join(", ")));
        }
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        out
    }
}

/// `sweep tasks: knee at 100 tasks (model C = 100, ratio 1.00); plateau …`,
/// or for a falling sweep `…; no plateau: throughput falls past its peak …`.
fn render_sweep(sweep: &SweepReport) -> String {
    let knee = match &sweep.knee {
        Ok(k) => k,
        Err(why) => {
            let mut line = format!("sweep {}: no knee: {why}", sweep.base_case);
            if let Some(expected) = sweep.model.and_then(|m| m.expected_knee(sweep.kind)) {
                line.push_str(&format!(
                    "; the model's knee is at {}",
                    sweep.load(&format_load(expected))
                ));
            }
            return line;
        }
    };
    let first_load = sweep
        .points
        .iter()
        .map(|p| p.x)
        .fold(f64::INFINITY, f64::min);
    let at = if knee.x <= first_load {
        "at or below"
    } else {
        "at"
    };
    let mut line = format!(
        "sweep {}: knee {at} {}",
        sweep.base_case,
        sweep.load(&knee_number(knee.x))
    );
    if let Some(r) = sweep.knee_vs_model {
        let name = if sweep.kind == SweepKind::Concurrency {
            "C"
        } else {
            "C/D"
        };
        line.push_str(&format!(
            " (model {name} = {}, ratio {:.2})",
            format_load(r.model),
            r.ratio()
        ));
    }
    match knee.fall {
        Some(fall) => line.push_str(&render_fall(sweep, &fall)),
        None => line.push_str(&format!(
            "; plateau {:.0} req/s from {} on",
            knee.plateau,
            sweep.load(&format_load(knee.plateau_start))
        )),
    }
    if let Some(r) = sweep.plateau_vs_model {
        let what = if knee.fall.is_some() { "peak " } else { "" };
        line.push_str(&format!(
            " (model C/D = {:.0}/s, {what}ratio {:.2})",
            r.model,
            r.ratio()
        ));
    }
    line
}

/// `; no plateau: throughput falls past its peak of 1952 req/s at 1 task to
/// 1131 req/s at 16 tasks`.
fn render_fall(sweep: &SweepReport, fall: &Fall) -> String {
    format!(
        "; no plateau: throughput falls past its peak of {:.0} req/s at {} to {:.0} req/s at {}",
        fall.peak,
        sweep.load(&format_load(fall.peak_x)),
        fall.last,
        sweep.load(&format_load(fall.last_x))
    )
}

/// A knee load for people: whole above 10 (`99`), one decimal below (`7.5`).
fn knee_number(x: f64) -> String {
    if x >= 10.0 {
        format!("{x:.0}")
    } else {
        format_load((x * 10.0).round() / 10.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServerModel;
    use std::time::Duration;

    const HEADER: &str = "schema_version,scenario,case,base_case,repetition,executor,concurrency,target_rate,wall_seconds,throughput,lat_p50_us,lat_p99_us,model_throughput,model_latency_us";

    fn row(
        case: &str,
        n: Option<f64>,
        rate: Option<f64>,
        x: f64,
        model: Option<(f64, f64)>,
    ) -> CaseRow {
        CaseRow {
            scenario: "s".into(),
            case: case.into(),
            base_case: "tasks".into(),
            repetition: 1,
            executor: "tasks".into(),
            concurrency: n,
            target_rate: rate,
            wall_seconds: Some(2.0),
            throughput: Some(x),
            p50_us: Some(n.unwrap_or(1.0) / x.max(1e-9) * 1e6),
            p99_us: None,
            model_throughput: model.map(|m| m.0),
            model_latency_us: model.map(|m| m.1),
        }
    }

    /// The saturation sweep as the model sees it: C = 100, D = 20 ms.
    fn model_rows(ns: &[f64], efficiency: f64) -> Vec<CaseRow> {
        let m = ServerModel {
            delay: Duration::from_millis(20),
            capacity: Some(100),
            queue: 5000,
        };
        ns.iter()
            .map(|&n| {
                let (x, r) = m.closed(n as u64);
                row(
                    &format!("tasks-{n}"),
                    Some(n),
                    None,
                    x * efficiency,
                    Some((x, r.as_micros() as f64)),
                )
            })
            .collect()
    }

    #[test]
    fn knee_and_plateau_against_the_model() {
        let rows = model_rows(
            &[
                1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0,
            ],
            0.93,
        );
        let refs: Vec<&CaseRow> = rows.iter().collect();
        let sweep = analyse(&refs, None);
        let model = sweep.model.unwrap();
        assert_eq!(
            (model.capacity, model.saturation, model.source),
            (Some(100.0), Some(5000.0), ModelSource::Summary)
        );
        let knee = sweep.knee_vs_model.unwrap();
        assert_eq!((knee.measured, knee.model), (100.0, 100.0));
        assert!((sweep.plateau_vs_model.unwrap().ratio() - 0.93).abs() < 1e-9);
        assert_eq!(
            render_sweep(&sweep),
            "sweep tasks: knee at 100 tasks (model C = 100, ratio 1.00); plateau 4650 req/s from 100 tasks on (model C/D = 5000/s, ratio 0.93)"
        );
        // run.json's parameters win over the columns.
        let params = ModelParams {
            delay_us: 25_000,
            capacity: Some(125),
            queue: 10,
        };
        let sweep = analyse(&refs, Some(params));
        assert_eq!(sweep.model.unwrap().source, ModelSource::RunJson);
        assert_eq!(sweep.knee_vs_model.unwrap().model, 125.0);
    }

    #[test]
    fn the_dense_model_curve_has_its_corner_at_c() {
        let rows = model_rows(&[1.0, 10.0, 50.0, 200.0, 1000.0], 1.0);
        let refs: Vec<&CaseRow> = rows.iter().collect();
        let curve = model_curve(&analyse(&refs, None));
        assert!(curve.len() > 100);
        let corner = curve.iter().find(|p| p.x == 100.0).expect("a point at C");
        assert_eq!((corner.throughput, corner.latency_ms), (5000.0, Some(20.0)));
        assert_eq!(curve.last().map(|p| p.latency_ms), Some(Some(200.0)));
    }

    #[test]
    fn sweeps_need_two_loads_and_one_kind() {
        let mut rows = model_rows(&[1.0, 10.0], 1.0);
        let mut single = row("alone", Some(5.0), None, 10.0, None);
        single.base_case = "alone".into();
        rows.push(single);
        let mut rate = row("rate-1", None, Some(100.0), 100.0, None);
        rate.base_case = "rate".into();
        rows.push(rate.clone());
        rate.target_rate = Some(200.0);
        rows.push(rate);
        let sweeps = group_sweeps(&rows);
        let names: Vec<(&str, usize)> = sweeps
            .iter()
            .map(|s| (s.first().unwrap().base_case.as_str(), s.len()))
            .collect();
        assert_eq!(names, [("tasks", 2), ("rate", 2)]);
        let analysed = analyse(&sweeps[0], None);
        assert_eq!(
            render_sweep(&analysed),
            "sweep tasks: no knee: too few points (2; a knee needs at least 3)"
        );
    }

    #[test]
    fn a_falling_sweep_names_its_measured_peak_and_one_task_is_singular() {
        let rows: Vec<CaseRow> = [(1.0, 1952.0), (4.0, 1456.0), (16.0, 1131.0)]
            .iter()
            .map(|&(n, x)| row(&format!("tasks-{n}"), Some(n), None, x, None))
            .collect();
        let refs: Vec<&CaseRow> = rows.iter().collect();
        let cases = [
            (
                None,
                "sweep tasks: knee at or below 1 task; no plateau: throughput falls past its peak of 1952 req/s at 1 task to 1131 req/s at 16 tasks",
            ),
            (
                Some(ModelParams {
                    delay_us: 2000,
                    capacity: Some(4),
                    queue: 100,
                }),
                "sweep tasks: knee at or below 1 task (model C = 4, ratio 0.25); no plateau: throughput falls past its peak of 1952 req/s at 1 task to 1131 req/s at 16 tasks (model C/D = 2000/s, peak ratio 0.98)",
            ),
        ];
        for (params, line) in cases {
            assert_eq!(render_sweep(&analyse(&refs, params)), line);
        }
    }

    #[test]
    fn loads_read_as_english() {
        let rows = model_rows(&[1.0, 10.0], 1.0);
        let refs: Vec<&CaseRow> = rows.iter().collect();
        let mut sweep = analyse(&refs, None);
        let table = [
            ("tasks", "1", "1 task"),
            ("tasks", "1.5", "1.5 tasks"),
            ("tasks", "16", "16 tasks"),
            ("unbounded", "1", "1 in flight"),
        ];
        for (executor, number, text) in table {
            sweep.executor = executor.into();
            assert_eq!(sweep.load(number), text);
        }
        sweep.kind = SweepKind::Rate;
        assert_eq!(sweep.load("1"), "1 req/s");
    }

    #[test]
    fn no_sweep_says_nothing() {
        let report = Report {
            dir: PathBuf::from("out"),
            scenarios: vec!["seed".into()],
            sweeps: Vec::new(),
            plots: vec![PathBuf::from("out/latency-percentiles.svg")],
            warnings: Vec::new(),
            results: Vec::new(),
        };
        assert_eq!(report.render(), "plots: latency-percentiles.svg\n");
        let empty = Report {
            plots: Vec::new(),
            ..report
        };
        assert_eq!(empty.render(), "");
    }

    #[test]
    fn summary_errors_name_the_file_line_and_column() {
        let path = Path::new("out/summary.csv");
        let good_row = "3,s,tasks-1,tasks,1,tasks,1,,2.0,46.7,21343,24975,50.000,20000";
        let cases = [
            ("", "out/summary.csv: the file is empty; expected a summary.csv with a header line".to_string()),
            (HEADER, "out/summary.csv: no result rows after the header; the run produced no results".to_string()),
            (
                &*format!("{HEADER}\n2,s,tasks-1,tasks,1,tasks,1,,2.0,46.7,1,1,,"),
                "out/summary.csv: line 2, column \"schema_version\": found \"2\", but this load-client reads schema version 3; re-run the scenario with this version".to_string(),
            ),
            (
                &*format!("{HEADER}\n{good_row}\n3,s,tasks-2,tasks,1,tasks,2,,2.0,fast,1,1,,"),
                "out/summary.csv: line 3, column \"throughput\": \"fast\" is not a non-negative number or empty".to_string(),
            ),
            (
                &*format!("{}\n{}", HEADER.replace(",lat_p99_us", ""), good_row.replace(",24975", "")),
                format!("out/summary.csv: line 1: missing column \"lat_p99_us\"; report needs the columns {}", REQUIRED_COLUMNS.join(", ")),
            ),
            (
                &*format!("{HEADER}\n{good_row},extra"),
                "out/summary.csv: line 2: not a valid summary.csv: CSV error: record 1 (line: 2, byte: 163): found record with 15 fields, but the previous record has 14 fields".to_string(),
            ),
        ];
        for (text, message) in cases {
            let got = parse_summary(path, text.as_bytes())
                .unwrap_err()
                .to_string();
            assert_eq!(got, message, "{text}");
        }
        let rows = parse_summary(path, format!("{HEADER}\n{good_row}\n").as_bytes()).unwrap();
        assert_eq!(rows[0].model_latency_us, Some(20_000.0));
        assert_eq!(rows[0].target_rate, None);
    }

    #[test]
    fn timelines_scale_the_last_partial_second() {
        let text = "second,ok,errors,p50_us,p99_us,max_us\n0,4518,0,22015,24959,26239\n1,4520,0,21887,24575,27519\n2,100,0,22399,23807,23807\n";
        let points = parse_timeline(text, Some(2.022)).unwrap();
        assert_eq!(points.len(), 2, "the 22 ms tail is dropped");
        let points = parse_timeline(text, Some(2.5)).unwrap();
        assert_eq!(points.len(), 3);
        assert_eq!((points[2].t, points[2].rate), (2.25, 200.0));
        assert_eq!(points[0].p99_ms, Some(24.959));
        let empty_p99 = "second,ok,errors,p50_us,p99_us,max_us\n0,0,3,,,\n";
        assert_eq!(parse_timeline(empty_p99, None).unwrap()[0].p99_ms, None);
        assert_eq!(
            parse_timeline("second,errors\n0,1\n", None)
                .unwrap_err()
                .to_string(),
            "missing column \"ok\""
        );
        assert_eq!(
            parse_timeline("second,ok,p99_us\n0,x,1\n", None)
                .unwrap_err()
                .to_string(),
            "line 2, column \"ok\": not a number"
        );
    }

    /// `report DIR` shows the table `run` printed: the results read back
    /// from the summary, with the open loop's utilisation from `run.json`.
    #[test]
    fn the_table_read_back_is_the_table_of_the_run() {
        let server = ServerModel {
            delay: Duration::from_millis(20),
            capacity: Some(10),
            queue: 100,
        };
        let mut closed = crate::results::CaseResult {
            scenario: "s".into(),
            case: "tasks-20".into(),
            base_case: "tasks".into(),
            repetition: 2,
            executor: "tasks".into(),
            concurrency: Some(20),
            requests: 1_000,
            ok: 990,
            statuses: [(200, 990), (503, 10)].into(),
            wall_seconds: 2.0123456,
            throughput: 491.953,
            latency: crate::results::Latency {
                min: 20_001,
                mean: 40_100.5,
                p50: 40_063,
                p90: 41_000,
                p99: 43_007,
                p999: 45_000,
                max: 47_999,
            }
            .into(),
            server: crate::results::ServerView {
                received: 1_000,
                peak_in_service: 10,
                peak_queued: 10,
                rejected: 10,
                ..Default::default()
            }
            .into(),
            model: server
                .expect(&crate::scenario::Shape::Tasks {
                    tasks: std::num::NonZeroU32::new(20).unwrap(),
                    per_task: crate::scenario::Amount::Time(Duration::from_secs(2)),
                })
                .into(),
            ..Default::default()
        };
        closed
            .errors
            .add_many(crate::outcome::ErrorKind::Http5xx, 10);
        let rate = crate::scenario::Rate::new(400.0).unwrap();
        let open = crate::results::CaseResult {
            case: "open".into(),
            repetition: 1,
            executor: "rate".into(),
            concurrency: None,
            target_rate: Some(400.0),
            model: server
                .expect(&crate::scenario::Shape::Rate {
                    rate,
                    duration: Duration::from_secs(2),
                    max_in_flight: std::num::NonZeroU32::new(50).unwrap(),
                })
                .into(),
            ..closed.clone()
        };
        let original = [closed, open];
        let bytes = crate::results::to_csv(&original).unwrap();
        let mut results = read_results(Path::new("summary.csv"), &bytes, NEEDS).unwrap();
        restore_utilisation(&mut results, &ModelParams::from(server));
        let report = Report {
            dir: PathBuf::from("out"),
            scenarios: Vec::new(),
            sweeps: Vec::new(),
            plots: Vec::new(),
            warnings: Vec::new(),
            results,
        };
        let table = report.table();
        assert_eq!(
            table,
            crate::table::render(&original)
                + "errors  tasks-20: http_5xx=10\nerrors  open: http_5xx=10\n"
        );
        assert!(table.contains("tasks-20 #2"), "{table}");
        assert!(table.contains("ρ=0.80"), "{table}");
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_are_read_or_refused_without_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            let _ = parse_summary(Path::new("x.csv"), &bytes);
            let _ = parse_timeline(&String::from_utf8_lossy(&bytes), Some(1.5));
        }
    }
}
