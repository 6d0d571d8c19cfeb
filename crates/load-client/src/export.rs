//! Files a run leaves behind: `summary.csv`, one `<case>.hgrm` per case and
//! `run.json`, each written to a temporary file in the same folder and then
//! renamed, so a reader never sees a half-written file.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Writes `bytes` to `path` atomically: temp file, flush to disk, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} has no file name", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A histogram in HdrHistogram's percentile-distribution text format
/// (values in milliseconds), as read by the standard HdrHistogram plotters.
pub fn hgrm(h: &Histogram<u64>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    if !h.is_empty() {
        for v in h.iter_quantiles(5) {
            total += v.count_since_last_iteration();
            let q = v.quantile_iterated_to();
            let value = v.value_iterated_to() as f64 / 1000.0;
            if q < 1.0 {
                let _ = writeln!(
                    out,
                    "{value:>12.3} {q:>14.12} {total:>10} {:>14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(out, "{value:>12.3} {q:>14.12} {total:>10}",);
            }
        }
    }
    let (mean, stdev, max) = if h.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (
            h.mean() / 1000.0,
            h.stdev() / 1000.0,
            h.max() as f64 / 1000.0,
        )
    };
    let _ = writeln!(
        out,
        "#[Mean    = {mean:>12.3}, StdDeviation   = {stdev:>12.3}]"
    );
    let _ = writeln!(
        out,
        "#[Max     = {max:>12.3}, Total count    = {:>12}]",
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        h.distinct_values()
    );
    out
}

/// The per-second histograms of a case as an HdrHistogram interval log
/// (`.hlog`, V2 encoding, values in µs, max column in ms), readable by
/// HdrHistogram's log tools.
pub fn hlog(
    timeline: &crate::recorder::Timeline,
    started_at: SystemTime,
) -> std::io::Result<Vec<u8>> {
    use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
    let mut buf = Vec::new();
    let mut serializer = hdrhistogram::serialization::V2Serializer::new();
    {
        let mut writer = IntervalLogWriterBuilder::new()
            .add_comment("load-client per-second latency of successful requests, microseconds")
            .with_start_time(started_at)
            .with_base_time(started_at)
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut buf, &mut serializer)?;
        for (second, interval) in timeline.intervals().enumerate() {
            writer
                .write_histogram(
                    &interval.ok,
                    std::time::Duration::from_secs(second as u64),
                    std::time::Duration::from_secs(1),
                    Tag::new("ok"),
                )
                .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        }
    }
    Ok(buf)
}

/// The per-second timeline as CSV: `second,ok,errors,p50_us,p99_us,max_us`.
pub fn timeline_csv(timeline: &crate::recorder::Timeline) -> Vec<u8> {
    let mut out = String::from("second,ok,errors,p50_us,p99_us,max_us\n");
    for (second, interval) in timeline.intervals().enumerate() {
        let h = &interval.ok;
        let (p50, p99, max) = if h.is_empty() {
            (String::new(), String::new(), String::new())
        } else {
            (
                h.value_at_quantile(0.5).to_string(),
                h.value_at_quantile(0.99).to_string(),
                h.max().to_string(),
            )
        };
        let _ = writeln!(
            out,
            "{second},{},{},{p50},{p99},{max}",
            h.len(),
            interval.errors
        );
    }
    out.into_bytes()
}

/// One row of a parsed `.hgrm` file: value (ms), percentile, total count.
pub type HgrmRow = (f64, f64, u64);

/// Reads the rows back from `.hgrm` text (used by tests and `report`).
pub fn parse_hgrm(text: &str) -> Result<Vec<HgrmRow>, String> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with("Value") {
            continue;
        }
        let cols: Vec<&str> = t.split_whitespace().collect();
        let bad = || {
            format!(
                "line {}: expected Value Percentile TotalCount columns",
                i + 1
            )
        };
        if cols.len() < 3 {
            return Err(bad());
        }
        rows.push((
            cols[0].parse().map_err(|_| bad())?,
            cols[1].parse().map_err(|_| bad())?,
            cols[2].parse().map_err(|_| bad())?,
        ));
    }
    Ok(rows)
}

/// Metadata of a run, written as `run.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// load-client version.
    pub tool_version: String,
    /// `git rev-parse HEAD` of the working folder, if it is a git checkout.
    pub git_revision: Option<String>,
    /// Logical CPUs of the machine.
    pub cores: usize,
    /// Scenario name.
    pub scenario: String,
    /// Scenario file path as given.
    pub scenario_file: String,
    /// SHA-256 of the scenario file.
    pub scenario_sha256: String,
    /// `--set` overrides applied.
    pub overrides: Vec<String>,
    /// Target: `embedded` or the URL.
    pub target: String,
    /// Request line and headers, with secrets redacted.
    pub request: RequestInfo,
    /// UTC start time, RFC 3339.
    pub started_at: String,
    /// Whether the run was interrupted (Ctrl-C) before it finished.
    pub interrupted: bool,
    /// Cases run, in order.
    pub cases: Vec<String>,
    /// The embedded server's model parameters; `None` for an external target.
    pub model: Option<crate::report::ModelParams>,
}

/// The request as recorded in `run.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RequestInfo {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers; values of credential headers are replaced by `<redacted>`.
    pub headers: Vec<(String, String)>,
    /// Body length in bytes.
    pub body_bytes: usize,
}

/// Headers whose values never reach files or logs.
pub const REDACTED_HEADERS: [&str; 4] = [
    "authorization",
    "cookie",
    "proxy-authorization",
    "set-cookie",
];

impl RequestInfo {
    /// The request spec with secrets redacted.
    pub fn of(spec: &crate::scenario::RequestSpec) -> RequestInfo {
        RequestInfo {
            method: spec.method.to_string(),
            path: spec.path.clone(),
            headers: spec
                .headers
                .iter()
                .map(|(n, v)| {
                    let value = if REDACTED_HEADERS.contains(&n.as_str())
                        || n.as_str().contains("token")
                        || n.as_str().contains("key")
                    {
                        "<redacted>".to_string()
                    } else {
                        v.to_str().unwrap_or("<binary>").to_string()
                    };
                    (n.to_string(), value)
                })
                .collect(),
            body_bytes: spec.body.len(),
        }
    }
}

/// The git revision of the current folder, if any.
pub fn git_revision() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The default output folder: `results/<scenario>/<timestamp>/`.
pub fn default_out_dir(scenario: &str) -> PathBuf {
    let stamp = utc_now().replace([':', '-'], "");
    PathBuf::from("results").join(scenario).join(stamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_781), (2026, 11, 24));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn hgrm_round_trips_percentiles() {
        let mut h = crate::recorder::new_histogram();
        for v in 1..=10_000u64 {
            h.record(v * 10).unwrap();
        }
        let rows = parse_hgrm(&hgrm(&h)).unwrap();
        assert!(rows.len() > 20);
        let last = rows.last().unwrap();
        assert_eq!(last.2, 10_000);
        assert_eq!(last.1, 1.0);
        let median = rows.iter().find(|r| r.1 >= 0.5).unwrap();
        assert!((49.0..=51.0).contains(&median.0), "median {} ms", median.0);
    }

    #[test]
    fn interval_log_parses_back_with_its_counts() {
        use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
        let mut r = crate::recorder::Recorder::default();
        r.timeline.record(0, Some(1_000));
        r.timeline.record(1, Some(2_000));
        r.timeline.record(1, Some(3_000));
        for _ in 0..4 {
            r.timeline.record(1, None);
        }
        let log = hlog(&r.timeline, SystemTime::now()).unwrap();
        let intervals: Vec<_> = IntervalLogIterator::new(&log)
            .filter_map(|e| match e {
                Ok(LogEntry::Interval(i)) => Some(i),
                _ => None,
            })
            .collect();
        assert_eq!(intervals.len(), 2);
        assert_eq!(intervals[1].start_timestamp().as_secs(), 1);
        let csv = String::from_utf8(timeline_csv(&r.timeline)).unwrap();
        assert_eq!(
            csv.lines()
                .nth(2)
                .unwrap()
                .split(',')
                .take(3)
                .collect::<Vec<_>>(),
            ["1", "2", "4"]
        );
    }

    #[test]
    fn atomic_write_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        write_atomic(&path, b"a,b\n").unwrap();
        write_atomic(&path, b"c,d\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"c,d\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn credentials_are_redacted() {
        let spec = crate::scenario::RequestSpec {
            method: http::Method::GET,
            path: "/".into(),
            headers: vec![
                (
                    http::header::AUTHORIZATION,
                    http::HeaderValue::from_static("Bearer s3cret"),
                ),
                (http::header::ACCEPT, http::HeaderValue::from_static("*/*")),
            ],
            body: bytes::Bytes::new(),
            timeout: std::time::Duration::from_secs(1),
            connect_timeout: std::time::Duration::from_secs(1),
        };
        let info = RequestInfo::of(&spec);
        assert_eq!(info.headers[0].1, "<redacted>");
        assert_eq!(info.headers[1].1, "*/*");
    }
}
