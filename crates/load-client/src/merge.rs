//! `load-client merge DIR… --out DIR`: the results folders of a sharded
//! run (`run --shard I/N`) added into the one folder a single machine
//! would have written.
//!
//! First the shards are checked to belong together, and every problem is
//! named with the folders it concerns (exit 2): every folder complete
//! (`results::files::check_complete`), every one a shard, of the same
//! scenario (SHA-256 of the file), overrides, shard count and cases, each
//! index from 0 to N-1 exactly once.
//!
//! Then, generically over the files a shard folder holds:
//! - every `<stem>.hdr` (full precision) is added across the shards; the
//!   merged `.hgrm` and `.hdr` and every percentile of `summary.csv` come
//!   from the sum, never from an average of percentiles;
//! - so is every mix entry's `<stem>@<entry>.hdr`, over the shards whose
//!   row has that entry (a shard with nothing to do has no entry rows and
//!   no entry files); the entry's row takes its percentiles from the sum.
//!   When no shard has the file (folders of a version before these files)
//!   the entry rows' latency stays empty;
//! - every `<stem>.hlog` is added interval by interval, placed by its
//!   timestamp: shard s's second k lands in merged second
//!   `k + round(start_s - start_min)` (exact when the shards shared a
//!   `--start-at`), with the errors of `<stem>.timeline.csv` beside it;
//! - the summary rows' counters (requests, ok, errors by kind, statuses,
//!   late, skipped, back-offs, concurrency) are summed;
//! - wall time is the union of the shards' windows:
//!   `max(start_s + wall_s) - min(start_s)` over the shards that sent
//!   anything, with `start_s` the `.hlog` start time of the case; throughput
//!   and achieved rate are the summed counts over that wall time.
//!
//! The open loop's plain service time (`svc_*`) has no full-precision file,
//! so the merged row leaves it empty. Then the checks recorded in
//! `run.json` are evaluated on the merged rows and the folder is written
//! through `run`'s writers, `run.json` last; the exit code is `run`'s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

use crate::checks::Verdict;
use crate::recorder::Timeline;
use crate::results::files::{self, case_stem, CaseData, Encoded, Incomplete};
use crate::results::hdr::{read_hdr, read_hlog, HistogramError};
use crate::results::run_json::{RunInfo, RunJsonError};
use crate::results::summary::{read_results, SummaryNeeds};
use crate::results::timeline::read_timeline;
use crate::results::{CaseResult, Latency, SummaryError};
use crate::run::{RunError, RunReport};

/// Why shards could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// Some folders are not complete runs.
    #[error("{} incomplete shard folder(s), merge complete runs only:\n  {}", .0.len(), list(.0))]
    Incomplete(Vec<Incomplete>),
    /// A `run.json` could not be read.
    #[error(transparent)]
    RunJson(#[from] RunJsonError),
    /// Some folders were not written by `run --shard`.
    #[error("not shard folders (their run.json has no shard; run with --shard I/N or --shards N): {}", paths(.0))]
    NotSharded(Vec<PathBuf>),
    /// The shards disagree on something that must be the same.
    #[error("the shards are of different {what}:\n  {}", .groups.join("\n  "))]
    Mismatch {
        /// What differs: `scenarios (SHA-256 of the file)`, `overrides`, ...
        what: &'static str,
        /// One line per distinct value: the value and the folders with it.
        groups: Vec<String>,
    },
    /// The same shard index twice or more.
    #[error("duplicate shards: {}", .0.join("; "))]
    Duplicate(Vec<String>),
    /// Shard indexes missing.
    #[error("missing shards of {count}: {} (have {have})", .missing.iter().map(|i| format!("{i}/{count}")).collect::<Vec<_>>().join(", "))]
    Missing {
        /// The shard count.
        count: u32,
        /// The missing indexes.
        missing: Vec<u32>,
        /// The indexes given.
        have: String,
    },
    /// A `summary.csv` could not be read.
    #[error(transparent)]
    Summary(#[from] SummaryError),
    /// The summaries' rows do not line up (the same case at the same row).
    #[error("{}: row {row} is {found}, but {} has {expected} there", dir.display(), first.display())]
    Rows {
        /// The folder whose row differs.
        dir: PathBuf,
        /// The first shard's folder.
        first: PathBuf,
        /// 1-based data row.
        row: usize,
        /// What this folder has.
        found: String,
        /// What the first shard has.
        expected: String,
    },
    /// A histogram file could not be read or added.
    #[error("{}: {source}", file.display())]
    Histogram {
        /// The file.
        file: PathBuf,
        /// What went wrong.
        source: HistogramError,
    },
    /// A file could not be read.
    #[error("{}: cannot read: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why not.
        source: std::io::Error,
    },
    /// A check recorded in `run.json` does not parse.
    #[error("{}: checks of case {case}: {source}", file.display())]
    Check {
        /// The `run.json`.
        file: PathBuf,
        /// The case.
        case: String,
        /// The parser's error.
        source: crate::checks::CheckError,
    },
    /// `--out` is one of the shard folders.
    #[error("--out {}: that is one of the shard folders; merge into a folder of its own", .0.display())]
    OutIsShard(PathBuf),
    /// The merged folder could not be written.
    #[error(transparent)]
    Write(#[from] RunError),
}

impl MergeError {
    /// 3 when the merged folder could not be written, 2 for every problem
    /// with the shards.
    pub fn exit_code(&self) -> u8 {
        match self {
            MergeError::Write(e) => e.exit_code() as u8,
            _ => 2,
        }
    }
}

fn list(items: &[Incomplete]) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join("\n  ")
}

fn paths(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

const NEEDS: SummaryNeeds = SummaryNeeds {
    columns: &["case", "repetition", "requests", "ok", "wall_seconds"],
    needed_by: "merge",
    on_other_version: "merge shards written by the same version",
};

/// One shard folder, read.
struct ShardDir {
    dir: PathBuf,
    info: RunInfo,
    index: u32,
    results: Vec<CaseResult>,
}

/// Merges shard folders into `out` and returns the merged run as `run`
/// would (its verdicts judged on the whole).
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<RunReport, MergeError> {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    if dirs.iter().any(|d| same(d, out)) {
        return Err(MergeError::OutIsShard(out.to_path_buf()));
    }
    let shards = read_shards(dirs)?;
    let first = &shards[0];
    let stems = hdr_stems(&first.dir)?;
    let mut merged_files = Vec::new();
    let mut hists = BTreeMap::new();
    let mut starts = BTreeMap::new();
    for stem in &stems {
        let merged = merge_stem(&shards, stem)?;
        merged_files.extend(
            files::case_files(&CaseData {
                case: stem,
                repetition: 1,
                ok: &merged.ok,
                timeline: &merged.timeline,
                started_at: merged.started_at,
                requests: &[],
            })
            .map_err(|e| MergeError::Write(e.into()))?,
        );
        hists.insert(stem.clone(), merged.ok);
        starts.insert(stem.clone(), merged.starts);
    }
    let mut results = Vec::new();
    for (row, base) in first.results.iter().enumerate() {
        let stem = case_stem(&base.case, base.repetition);
        let parts: Vec<&CaseResult> = shards.iter().map(|s| &s.results[row]).collect();
        let windows = starts.get(&stem).cloned().unwrap_or_default();
        let entries = merge_entries(&shards, row)?;
        for entry in &entries {
            if let Some(h) = &entry.ok {
                merged_files.push(entry_file(base, &entry.name, h)?);
            }
        }
        let entry_hists: Vec<Option<&Histogram<u64>>> =
            entries.iter().map(|e| e.ok.as_ref()).collect();
        results.push(merge_row(&parts, hists.get(&stem), &windows, &entry_hists));
    }
    let verdicts = judge(first, &results)?;
    let info = merged_info(&shards, &results);
    std::fs::create_dir_all(out).map_err(|source| {
        MergeError::Write(RunError::OutputFolder {
            dir: out.to_path_buf(),
            source,
        })
    })?;
    crate::run::write_run_folder(out, &merged_files, &results, &verdicts, &info)?;
    Ok(RunReport {
        interrupted: results.iter().any(|r| r.interrupted),
        results,
        out_dir: out.to_path_buf(),
        verdicts,
        target: info.target.clone(),
        searches: Vec::new(),
        warnings: Vec::new(),
    })
}

/// Reads and checks the shard folders; sorted by index.
fn read_shards(dirs: &[PathBuf]) -> Result<Vec<ShardDir>, MergeError> {
    let incomplete: Vec<Incomplete> = dirs
        .iter()
        .filter_map(|d| files::check_complete(d).err())
        .collect();
    if !incomplete.is_empty() {
        return Err(MergeError::Incomplete(incomplete));
    }
    let mut shards = Vec::new();
    let mut not_sharded = Vec::new();
    for dir in dirs {
        let info = RunInfo::read(&dir.join(files::RUN_JSON))?;
        let Some(shard) = info.shard else {
            not_sharded.push(dir.clone());
            continue;
        };
        shards.push((dir.clone(), info, shard));
    }
    if !not_sharded.is_empty() {
        return Err(MergeError::NotSharded(not_sharded));
    }
    agree(&shards, "scenarios (SHA-256 of the scenario file)", |i| {
        format!("{} ({})", i.scenario_sha256, i.scenario)
    })?;
    agree(&shards, "overrides (--set)", |i| {
        format!("{:?}", i.overrides)
    })?;
    agree(&shards, "shard counts", |i| {
        i.shard.map_or(0, |s| s.count).to_string()
    })?;
    agree(&shards, "case lists", |i| i.cases.join(","))?;
    check_indexes(&shards)?;
    shards.sort_by_key(|(_, _, s)| s.index);
    let mut out = Vec::new();
    for (dir, info, shard) in shards {
        let path = dir.join(files::SUMMARY);
        let bytes = std::fs::read(&path).map_err(|source| MergeError::Read {
            file: path.clone(),
            source,
        })?;
        let results = read_results(&path, &bytes, NEEDS)?;
        out.push(ShardDir {
            dir,
            info,
            index: shard.index,
            results,
        });
    }
    check_rows(&out)?;
    Ok(out)
}

type Read = (PathBuf, RunInfo, crate::results::run_json::ShardInfo);

/// Every shard has the same `key`, or the error lists each value with its folders.
fn agree(
    shards: &[Read],
    what: &'static str,
    key: impl Fn(&RunInfo) -> String,
) -> Result<(), MergeError> {
    let mut groups: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for (dir, info, _) in shards {
        groups.entry(key(info)).or_default().push(dir.clone());
    }
    if groups.len() <= 1 {
        return Ok(());
    }
    Err(MergeError::Mismatch {
        what,
        groups: groups
            .into_iter()
            .map(|(value, dirs)| format!("{value}: {}", paths(&dirs)))
            .collect(),
    })
}

/// Each index from 0 to N-1 exactly once.
fn check_indexes(shards: &[Read]) -> Result<(), MergeError> {
    let count = shards.first().map_or(0, |(_, _, s)| s.count);
    let mut by_index: BTreeMap<u32, Vec<PathBuf>> = BTreeMap::new();
    for (dir, _, shard) in shards {
        by_index.entry(shard.index).or_default().push(dir.clone());
    }
    let duplicates: Vec<String> = by_index
        .iter()
        .filter(|(_, dirs)| dirs.len() > 1)
        .map(|(i, dirs)| format!("shard {i}/{count} in {}", paths(dirs)))
        .collect();
    if !duplicates.is_empty() {
        return Err(MergeError::Duplicate(duplicates));
    }
    let missing: Vec<u32> = (0..count).filter(|i| !by_index.contains_key(i)).collect();
    let outside = by_index.keys().any(|&i| i >= count);
    if !missing.is_empty() || outside {
        let have = by_index
            .keys()
            .map(|i| format!("{i}/{count}"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(MergeError::Missing {
            count,
            missing,
            have,
        });
    }
    Ok(())
}

/// The summaries hold the same cases in the same rows.
fn check_rows(shards: &[ShardDir]) -> Result<(), MergeError> {
    let first = &shards[0];
    let name = |r: &CaseResult| format!("{} (repetition {})", r.case, r.repetition);
    for shard in &shards[1..] {
        let rows = first.results.len().max(shard.results.len());
        for row in 0..rows {
            let (a, b) = (first.results.get(row), shard.results.get(row));
            let same = matches!((a, b), (Some(a), Some(b)) if a.case == b.case && a.repetition == b.repetition);
            if !same {
                return Err(MergeError::Rows {
                    dir: shard.dir.clone(),
                    first: first.dir.clone(),
                    row: row + 1,
                    found: b.map_or("missing".into(), name),
                    expected: a.map_or("nothing".into(), name),
                });
            }
        }
    }
    Ok(())
}

/// The stems of every case's `.hdr` file in a folder, sorted (a mix
/// entry's `<stem>@<entry>.hdr` is not a case's).
fn hdr_stems(dir: &Path) -> Result<Vec<String>, MergeError> {
    let entries = std::fs::read_dir(dir).map_err(|source| MergeError::Read {
        file: dir.to_path_buf(),
        source,
    })?;
    let mut stems: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.') && files::parse_request_hdr_name(n).is_none())
        .filter_map(|n| n.strip_suffix(".hdr").map(str::to_string))
        .collect();
    stems.sort();
    Ok(stems)
}

/// One stem's histograms added across the shards.
struct MergedStem {
    ok: Histogram<u64>,
    timeline: Timeline,
    started_at: SystemTime,
    /// Each shard's measured-phase start (`.hlog` start time), by shard.
    starts: Vec<Option<Duration>>,
}

fn read_text(file: &Path) -> Result<String, MergeError> {
    std::fs::read_to_string(file).map_err(|source| MergeError::Read {
        file: file.to_path_buf(),
        source,
    })
}

fn merge_stem(shards: &[ShardDir], stem: &str) -> Result<MergedStem, MergeError> {
    let mut ok: Option<Histogram<u64>> = None;
    let mut logs = Vec::new();
    for shard in shards {
        let file = shard.dir.join(format!("{stem}.hdr"));
        let h = read_hdr(&read_text(&file)?).map_err(|source| MergeError::Histogram {
            file: file.clone(),
            source,
        })?;
        add_into(&mut ok, h, &file)?;
        let hlog = shard.dir.join(format!("{stem}.hlog"));
        let log = match std::fs::read(&hlog) {
            Ok(bytes) => Some(read_hlog(&bytes).map_err(|source| MergeError::Histogram {
                file: hlog.clone(),
                source,
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(MergeError::Read { file: hlog, source }),
        };
        let timeline = shard.dir.join(format!("{stem}.timeline.csv"));
        let errors: Vec<u64> = match std::fs::read_to_string(&timeline) {
            Ok(text) => read_timeline(&text)
                .map_err(|e| MergeError::Histogram {
                    file: timeline.clone(),
                    source: HistogramError::Log(e.to_string()),
                })?
                .iter()
                .map(|r| r.errors)
                .collect(),
            Err(_) => Vec::new(),
        };
        logs.push((log, errors));
    }
    let ok = ok.unwrap_or_else(crate::recorder::new_histogram);
    let starts: Vec<Option<Duration>> = logs
        .iter()
        .map(|(log, _)| log.as_ref().and_then(|l| l.start_time.or(l.base_time)))
        .collect();
    // The merged log starts with the earliest shard that recorded anything.
    let active = |(log, errors): &(Option<crate::results::hdr::IntervalLog>, Vec<u64>)| {
        log.as_ref().is_some_and(|l| !l.intervals.is_empty()) || errors.iter().any(|&e| e > 0)
    };
    let base = logs
        .iter()
        .zip(&starts)
        .filter(|(l, _)| active(l))
        .filter_map(|(_, s)| *s)
        .min()
        .or_else(|| starts.iter().flatten().min().copied())
        .unwrap_or_default();
    let mut timeline = Timeline::default();
    for ((log, errors), start) in logs.iter().zip(&starts) {
        let Some(log) = log else { continue };
        let shift = start
            .unwrap_or(base)
            .saturating_sub(base)
            .as_secs_f64()
            .round() as u64;
        let log_base = log.base_time.or(log.start_time).unwrap_or(base);
        let from_start = log_base.saturating_sub(start.unwrap_or(log_base));
        for interval in &log.intervals {
            let second = (from_start + interval.start).as_secs_f64().round() as u64;
            timeline.add_interval(second + shift, &interval.histogram, 0);
        }
        for (second, &e) in errors.iter().enumerate() {
            if e > 0 {
                timeline.add_interval(second as u64 + shift, &empty_interval(), e);
            }
        }
    }
    Ok(MergedStem {
        ok,
        timeline,
        started_at: UNIX_EPOCH + base,
        starts,
    })
}

/// One mix entry's histogram added across the shards.
struct MergedEntry {
    /// The entry's name.
    name: String,
    /// The sum, or `None` when no shard has the entry's file.
    ok: Option<Histogram<u64>>,
}

/// The mix entries' histograms of data row `row` added across the shards,
/// by entry index: the sum when every shard with the entry's row has its
/// `.hdr`, `None` when none has (a folder written before entry files
/// existed). Some with and some without is an error naming the missing
/// file.
fn merge_entries(shards: &[ShardDir], row: usize) -> Result<Vec<MergedEntry>, MergeError> {
    let count = shards
        .iter()
        .map(|s| s.results[row].parts.len())
        .max()
        .unwrap_or(0);
    let mut out = Vec::with_capacity(count);
    for j in 0..count {
        let mut sum: Option<Histogram<u64>> = None;
        let mut missing = None;
        let mut name = String::new();
        for shard in shards {
            let r = &shard.results[row];
            let Some(part) = r.parts.get(j) else { continue };
            name.clone_from(&part.request);
            let file = shard.dir.join(files::request_hdr_name(
                &r.case,
                r.repetition,
                &part.request,
            ));
            let text = match std::fs::read_to_string(&file) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    missing = Some((file, e));
                    continue;
                }
                Err(source) => return Err(MergeError::Read { file, source }),
            };
            let h = read_hdr(&text).map_err(|source| MergeError::Histogram {
                file: file.clone(),
                source,
            })?;
            add_into(&mut sum, h, &file)?;
        }
        match (sum, missing) {
            (Some(_), Some((file, source))) => return Err(MergeError::Read { file, source }),
            (ok, _) => out.push(MergedEntry { name, ok }),
        }
    }
    Ok(out)
}

/// Adds `h` to `sum` (or makes it the sum).
fn add_into(
    sum: &mut Option<Histogram<u64>>,
    h: Histogram<u64>,
    file: &Path,
) -> Result<(), MergeError> {
    match sum.as_mut() {
        None => *sum = Some(h),
        Some(sum) => sum.add(&h).map_err(|e| MergeError::Histogram {
            file: file.to_path_buf(),
            source: HistogramError::Decode(format!("cannot add: {e:?}")),
        })?,
    }
    Ok(())
}

/// The merged folder's `.hdr` of one mix entry of `case`'s row.
fn entry_file(case: &CaseResult, entry: &str, h: &Histogram<u64>) -> Result<Encoded, MergeError> {
    let name = files::request_hdr_name(&case.case, case.repetition, entry);
    match crate::results::hdr::hdr(h) {
        Ok(bytes) => Ok(Encoded { name, bytes }),
        Err(source) => Err(MergeError::Write(
            files::CaseFileError {
                case: case.case.clone(),
                file: name,
                source,
            }
            .into(),
        )),
    }
}

fn empty_interval() -> Histogram<u64> {
    crate::recorder::new_interval_histogram()
}

/// One summary row added across the shards; `entries` are its mix
/// entries' merged histograms, by entry index (`None`: no latency).
fn merge_row(
    parts: &[&CaseResult],
    ok: Option<&Histogram<u64>>,
    starts: &[Option<Duration>],
    entries: &[Option<&Histogram<u64>>],
) -> CaseResult {
    let mut merged = parts[0].clone();
    let sum = |f: fn(&CaseResult) -> u64| parts.iter().map(|r| f(r)).sum::<u64>();
    merged.requests = sum(|r| r.requests);
    merged.ok = sum(|r| r.ok);
    merged.late_sends = sum(|r| r.late_sends);
    merged.skipped_sends = sum(|r| r.skipped_sends);
    merged.connect_backoffs = sum(|r| r.connect_backoffs);
    merged.concurrency = parts[0]
        .concurrency
        .map(|_| parts.iter().filter_map(|r| r.concurrency).sum());
    merged.errors = Default::default();
    merged.statuses = BTreeMap::new();
    let mut left = 0.0;
    for r in parts {
        merged.errors.merge(&r.errors);
        for (status, n) in &r.statuses {
            *merged.statuses.entry(*status).or_default() += n;
        }
        left += r.achieved_rate * r.wall_seconds;
    }
    merged.interrupted = parts.iter().any(|r| r.interrupted);
    // The union of the windows of the shards that sent anything.
    let windows: Vec<(f64, f64)> = parts
        .iter()
        .enumerate()
        .filter(|(_, r)| r.requests > 0)
        .map(|(i, r)| {
            let start = starts.get(i).copied().flatten().unwrap_or_default();
            (start.as_secs_f64(), start.as_secs_f64() + r.wall_seconds)
        })
        .collect();
    let wall = match (
        windows.iter().map(|w| w.0).reduce(f64::min),
        windows.iter().map(|w| w.1).reduce(f64::max),
    ) {
        (Some(from), Some(to)) => (to - from).max(0.0),
        _ => 0.0,
    };
    merged.wall_seconds = wall;
    let per_second = |n: f64| if wall > 0.0 { n / wall } else { 0.0 };
    merged.throughput = per_second(merged.ok as f64);
    merged.achieved_rate = per_second(left.round());
    merged.latency = ok.and_then(Latency::of);
    merged.service = None;
    merged.server = None;
    merged.model = None;
    // A request mix's per-entry rows, added the same way, their latency
    // from the entry's merged histogram.
    merged.parts = (0..parts.iter().map(|r| r.parts.len()).max().unwrap_or(0))
        .map(|j| {
            let (rows, starts): (Vec<&CaseResult>, Vec<Option<Duration>>) = parts
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    r.parts
                        .get(j)
                        .map(|p| (p, starts.get(i).copied().flatten()))
                })
                .unzip();
            merge_row(&rows, entries.get(j).copied().flatten(), &starts, &[])
        })
        .collect();
    merged
}

/// The checks recorded in the first shard's `run.json`, judged on the
/// merged rows.
fn judge(first: &ShardDir, results: &[CaseResult]) -> Result<Vec<Verdict>, MergeError> {
    let mut verdicts = Vec::new();
    for result in results {
        let Some(texts) = first.info.checks.get(&result.case) else {
            continue;
        };
        for text in texts {
            let check = crate::checks::parse(text).map_err(|source| MergeError::Check {
                file: first.dir.join(files::RUN_JSON),
                case: result.case.clone(),
                source,
            })?;
            verdicts.push(check.evaluate(result));
        }
    }
    Ok(verdicts)
}

/// The merged folder's `run.json`: the first shard's, without a shard,
/// host or skew, with the shards it came from.
fn merged_info(shards: &[ShardDir], results: &[CaseResult]) -> RunInfo {
    let mut info = shards[0].info.clone();
    info.shard = None;
    info.host = None;
    info.start_skew_seconds = None;
    info.interrupted = shards.iter().any(|s| s.info.interrupted);
    info.started_at = shards
        .iter()
        .map(|s| s.info.started_at.clone())
        .min()
        .unwrap_or_default();
    info.cases = results.iter().map(|r| r.case.clone()).collect();
    info.merged_from = shards
        .iter()
        .map(|s| {
            format!(
                "{} (shard {}, {})",
                s.dir.display(),
                s.index,
                s.info.host.as_deref().unwrap_or("unknown host")
            )
        })
        .collect();
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(requests: u64, wall: f64, concurrency: u64) -> CaseResult {
        let mut r = CaseResult {
            case: "c".into(),
            requests,
            ok: requests.saturating_sub(1),
            wall_seconds: wall,
            achieved_rate: if wall > 0.0 {
                requests as f64 / wall
            } else {
                0.0
            },
            concurrency: Some(concurrency),
            late_sends: 1,
            ..CaseResult::default()
        };
        if requests > 0 {
            r.errors.add(crate::outcome::ErrorKind::Reset);
            r.statuses.insert(200, requests - 1);
        }
        r
    }

    /// Counters add up; the wall is the union of the windows of the shards
    /// that sent anything; rates are the sums over that wall; percentiles
    /// come from the histogram given.
    #[test]
    fn rows_add_up_over_the_union_of_the_windows() {
        let (a, b, empty) = (part(200, 2.0, 3), part(100, 2.0, 2), part(0, 0.0, 0));
        let mut h = crate::recorder::new_histogram();
        for v in [1_000u64, 2_000, 3_000] {
            h.record(v).unwrap();
        }
        let starts = [
            Some(Duration::from_millis(10_000)),
            Some(Duration::from_millis(10_500)),
            None,
        ];
        let m = merge_row(&[&a, &b, &empty], Some(&h), &starts, &[]);
        assert_eq!((m.requests, m.ok, m.errors.total()), (300, 298, 2));
        assert_eq!(m.statuses.get(&200), Some(&298));
        assert_eq!((m.concurrency, m.late_sends), (Some(5), 3));
        assert!((m.wall_seconds - 2.5).abs() < 1e-9, "{}", m.wall_seconds);
        assert!((m.throughput - 298.0 / 2.5).abs() < 1e-9);
        assert!((m.achieved_rate - 300.0 / 2.5).abs() < 1e-9);
        assert_eq!(m.latency, Latency::of(&h));
        assert_eq!(m.latency.map(|l| l.p50), Some(2_000));
        let none = merge_row(&[&empty, &empty], None, &[None, None], &[]);
        assert_eq!(
            (none.wall_seconds, none.throughput, none.latency),
            (0.0, 0.0, None)
        );
    }

    /// A request mix's per-entry rows add up entry by entry, also when a
    /// shard had nothing to do (no entry rows); their latency comes from
    /// the entry's merged histogram, and stays empty without one.
    #[test]
    fn entry_rows_add_up_entry_by_entry() {
        let entry = |name: &str, requests: u64| CaseResult {
            request: name.into(),
            latency: Latency::of(&{
                let mut h = crate::recorder::new_histogram();
                h.record(1_000).unwrap();
                h
            }),
            ..part(requests, 2.0, 1)
        };
        let mut a = part(30, 2.0, 2);
        a.parts = vec![entry("get", 20), entry("put", 10)];
        let mut b = part(12, 2.0, 2);
        b.parts = vec![entry("get", 9), entry("put", 3)];
        let empty = part(0, 0.0, 0);
        let starts = [Some(Duration::ZERO), Some(Duration::ZERO), None];
        let m = merge_row(&[&a, &b, &empty], None, &starts, &[]);
        let rows: Vec<(&str, u64, u64)> = m
            .parts
            .iter()
            .map(|p| (p.request.as_str(), p.requests, p.ok))
            .collect();
        assert_eq!(rows, [("get", 29, 27), ("put", 13, 11)]);
        assert!(m.parts.iter().all(|p| p.latency.is_none()));
        let mut get = crate::recorder::new_histogram();
        for v in [1_000u64, 2_000, 70_000] {
            get.record(v).unwrap();
        }
        let m = merge_row(&[&a, &b, &empty], None, &starts, &[Some(&get), None]);
        assert_eq!(m.parts[0].latency, Latency::of(&get));
        assert_eq!(m.parts[0].latency.map(|l| l.p50), Some(2_000));
        assert_eq!(m.parts[1].latency, None);
    }
}
