//! Files a run leaves behind: `summary.csv`, per case `<case>.hgrm`,
//! `<case>.hdr`, `<case>.hlog` and `<case>.timeline.csv`, and `run.json`
//! (written last, by `run`), each written to a new temporary file in the
//! same folder and then renamed, so a reader never sees a half-written file
//! and nothing is written through a link planted in the folder.
//!
//! The histogram wire formats live here: `.hgrm` (HdrHistogram's
//! percentile-distribution text) and the compressed base64 encoding of
//! `.hdr` and `.hlog` (HdrHistogram's interval log, format 1.3).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::redact;

/// Writes `bytes` to `path` atomically: a new temporary file in the same
/// folder, flushed to disk, then renamed over `path`.
///
/// The temporary file (`.<name>.tmp-XXXXXX`, random suffix) is created
/// exclusively (`O_CREAT | O_EXCL`), so a file or symlink planted at that
/// name is never opened or written through; the rename replaces whatever
/// entry `path` names, a symlink included, without following it. A failed
/// write removes its temporary file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} has no file name", path.display())))?;
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix);
    // As `File::create` would: readable by others unless the umask says no
    // (tempfile's default is owner-only).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut file = builder.tempfile_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    // On error the temporary file is dropped, which deletes it.
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
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
        sub_bucket_count(h.sigfig())
    );
    out
}

/// Sub-buckets per bucket of a histogram with `sigfig` significant digits,
/// as HdrHistogram computes it (2048 for 3 digits): the smallest power of
/// two that holds `2 * 10^sigfig` values at unit resolution.
pub fn sub_bucket_count(sigfig: u8) -> u64 {
    (2 * 10u64.pow(u32::from(sigfig))).next_power_of_two()
}

/// The `.hlog` format version written, as in HdrHistogram's
/// `HistogramLogWriter`.
pub const HLOG_FORMAT_VERSION: &str = "1.3";

/// The legend line of an interval log.
const HLOG_LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"";

/// A histogram in HdrHistogram's compressed encoding (V2 + deflate, cookie
/// `0x1c849304`), base64: the text of an interval log's histogram field,
/// starting `HISTF`, which `HdrHistogram.decode` (Python),
/// `Histogram.fromString` (Java) and [`decode_compressed`] read.
pub fn encode_compressed(h: &Histogram<u64>) -> std::io::Result<String> {
    use base64::Engine as _;
    use hdrhistogram::serialization::Serializer as _;
    let mut bytes = Vec::new();
    hdrhistogram::serialization::V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .map_err(|e| std::io::Error::other(format!("cannot encode a histogram: {e:?}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Reads a histogram written by [`encode_compressed`] (or any HdrHistogram
/// V2 histogram, compressed or not, in base64).
pub fn decode_compressed(text: &str) -> Result<Histogram<u64>, String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|e| format!("not an HdrHistogram V2 histogram: {e:?}"))
}

/// The per-second histograms of a case as an HdrHistogram interval log
/// (`.hlog`, format 1.3): `#[StartTime]`/`#[BaseTime]` headers, the legend,
/// then one line per second `start,length,max_ms,HISTF…` with the
/// histogram compressed as [`encode_compressed`] does (values in µs),
/// readable by HdrHistogram's `HistogramLogReader` (Java, Python) and
/// `IntervalLogIterator` (Rust).
pub fn hlog(
    timeline: &crate::recorder::Timeline,
    started_at: SystemTime,
) -> std::io::Result<Vec<u8>> {
    let start = started_at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "#load-client per-second latency of successful requests, microseconds"
    );
    let _ = writeln!(out, "#[Histogram log format version {HLOG_FORMAT_VERSION}]");
    let _ = writeln!(
        out,
        "#[StartTime: {:.3} (seconds since epoch), {}]",
        start.as_secs_f64(),
        rfc3339(start.as_secs())
    );
    let _ = writeln!(
        out,
        "#[BaseTime: {:.3} (seconds since epoch)]",
        start.as_secs_f64()
    );
    let _ = writeln!(out, "{HLOG_LEGEND}");
    for (second, interval) in timeline.intervals().enumerate() {
        let h = &interval.ok;
        let _ = writeln!(
            out,
            "{second}.000,1.000,{:.3},{}",
            h.max() as f64 / 1000.0,
            encode_compressed(h)?
        );
    }
    Ok(out.into_bytes())
}

/// The whole measured phase of a case as one full-precision histogram
/// (`<case>.hdr`): a single line, the compressed base64 histogram of
/// [`encode_compressed`], so histograms of several runs or shards can be
/// decoded and added.
pub fn hdr(h: &Histogram<u64>) -> std::io::Result<Vec<u8>> {
    let mut text = encode_compressed(h)?;
    text.push('\n');
    Ok(text.into_bytes())
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
    /// `--set` overrides applied, credentials redacted
    /// ([`redact::override_item`]).
    pub overrides: Vec<String>,
    /// Target: `embedded` or the URL, its password redacted ([`redact::url`]).
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
    /// Path and query; values of sensitive query parameters redacted.
    pub path: String,
    /// Headers; values of credential headers are replaced by `<redacted>`.
    pub headers: Vec<(String, String)>,
    /// Body length in bytes.
    pub body_bytes: usize,
}

impl RequestInfo {
    /// The request spec with secrets redacted (see [`crate::redact`]).
    pub fn of(spec: &crate::scenario::RequestSpec) -> RequestInfo {
        RequestInfo {
            method: spec.method.to_string(),
            path: redact::path_and_query(&spec.path),
            headers: spec
                .headers
                .iter()
                .map(|(n, v)| {
                    let value = redact::header_value(n.as_str(), v.to_str().unwrap_or("<binary>"));
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
    rfc3339(secs)
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339(secs: u64) -> String {
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
        let started = UNIX_EPOCH + std::time::Duration::from_millis(1_764_000_000_250);
        let log = hlog(&r.timeline, started).unwrap();
        let entries: Vec<_> = IntervalLogIterator::new(&log)
            .collect::<Result<_, _>>()
            .unwrap();
        let intervals: Vec<_> = entries
            .iter()
            .filter_map(|e| match e {
                LogEntry::Interval(i) => Some(i),
                _ => None,
            })
            .collect();
        assert_eq!(intervals.len(), 2);
        assert_eq!(intervals[1].start_timestamp().as_secs(), 1);
        assert_eq!(intervals[1].duration().as_secs(), 1);
        let max = intervals[1].max();
        assert!((3.0..3.1).contains(&max), "max column in ms: {max}");
        let counts: Vec<u64> = intervals
            .iter()
            .map(|i| decode_compressed(i.encoded_histogram()).unwrap().len())
            .collect();
        assert_eq!(counts, [1, 2]);
        let start = std::time::Duration::from_millis(1_764_000_000_250);
        assert!(entries.contains(&LogEntry::StartTime(start)), "{entries:?}");
        assert!(entries.contains(&LogEntry::BaseTime(start)), "{entries:?}");
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

    /// HdrHistogram's own readers (Java and Python `HistogramLogReader`)
    /// only take compressed histograms: base64 of cookie 0x1c849304 + 0x10
    /// (V2, deflate), which always starts `HISTF`.
    #[test]
    fn interval_log_uses_the_compressed_encoding_and_the_standard_header() {
        use base64::Engine as _;
        let mut t = crate::recorder::Timeline::default();
        t.record(0, Some(1_500));
        let text = String::from_utf8(hlog(&t, SystemTime::now()).unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "#[Histogram log format version 1.3]");
        assert!(lines[2].starts_with("#[StartTime: "), "{text}");
        assert!(lines[2].contains(" (seconds since epoch), "), "{text}");
        assert!(lines[3].starts_with("#[BaseTime: "), "{text}");
        assert_eq!(lines[4], HLOG_LEGEND);
        assert_eq!(lines.len(), 6, "{text}");
        let payload = lines[5].rsplit(',').next().unwrap();
        assert!(lines[5].starts_with("0.000,1.000,1.5"), "{text}");
        assert!(payload.starts_with("HISTF"), "{text}");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(payload)
            .unwrap();
        assert_eq!(bytes[..4], 0x1c84_9314u32.to_be_bytes());
        let back = decode_compressed(payload).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back.sigfig(), t.intervals().next().unwrap().ok.sigfig());
    }

    #[test]
    fn the_case_histogram_keeps_full_precision() {
        let mut h = crate::recorder::new_histogram();
        for v in [1u64, 12_345, 999_999, 3_000_000] {
            h.record(v).unwrap();
        }
        let text = String::from_utf8(hdr(&h).unwrap()).unwrap();
        assert!(text.starts_with("HISTF") && text.ends_with('\n'), "{text}");
        assert_eq!(text.lines().count(), 1);
        let back = decode_compressed(&text).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.sigfig(), crate::recorder::SIGNIFICANT_DIGITS);
    }

    #[test]
    fn hgrm_footer_gives_the_sub_bucket_count_like_hdrhistogram() {
        let mut h = crate::recorder::new_histogram();
        h.record(1_000).unwrap();
        let text = hgrm(&h);
        let footer = text.lines().last().unwrap();
        assert_eq!(
            footer,
            format!(
                "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
                h.buckets(),
                2048
            )
        );
        assert_eq!(sub_bucket_count(2), 256);
        assert_eq!(sub_bucket_count(1), 32);
        assert_eq!(sub_bucket_count(0), 2);
        assert_eq!(sub_bucket_count(5), 262_144);
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

    #[cfg(unix)]
    #[test]
    fn atomic_write_keeps_the_permissions_the_umask_allows() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        write_atomic(&path, b"x").unwrap();
        std::fs::write(dir.path().join("plain"), b"x").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), mode(&dir.path().join("plain")));
    }

    /// A symlink planted at the old predictable temporary name
    /// (`.x.csv.tmp-<pid>`) or at the final name never redirects the write.
    #[cfg(unix)]
    #[test]
    fn atomic_write_never_follows_a_planted_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let path = dir.path().join("x.csv");
        let old_tmp = dir
            .path()
            .join(format!(".x.csv.tmp-{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &old_tmp).unwrap();
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        write_atomic(&path, b"result").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(&path).unwrap(), b"result");
        assert!(!std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink());
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
