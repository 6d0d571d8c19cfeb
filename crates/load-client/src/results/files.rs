//! The results folder on disk: every file name, the atomic write, and the
//! writers a run goes through.
//!
//! A run leaves `summary.csv`, per case and repetition `<case>.hgrm`,
//! `<case>.hdr`, `<case>.hlog` and `<case>.timeline.csv` (and with a
//! `requests:` mix, `<case>@<entry>.hdr` per entry), `summary.json`,
//! `checks.csv` and `checks.xml` when the scenario has checks,
//! `report.html`, and `run.json`, written last as the mark of a complete
//! folder. Each is written to a new temporary file in the
//! same folder and then renamed, so a reader never sees a half-written file
//! and nothing is written through a link planted in the folder.
//!
//! Writers follow hyperfine's exporters: one small trait, [`Writer`], that
//! names its file and produces its bytes; `run` builds the list and loops
//! over it. A new per-case format is one [`CaseFile`] variant; a new file
//! of the whole run is one [`Writer`].

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use hdrhistogram::Histogram;

use super::hdr::{self, HistogramError};
use super::run_json::{utc_now, RunInfo};
use super::summary_json::SummaryJson;
use super::{hgrm, summary, timeline, CaseResult};
use crate::recorder::Timeline;

/// The summary of every case: `summary.csv`.
pub const SUMMARY: &str = "summary.csv";
/// The run's metadata, written last: `run.json`.
pub const RUN_JSON: &str = "run.json";
/// The verdicts of the scenario's checks: `checks.csv`.
pub const CHECKS: &str = "checks.csv";
/// The summary for programs, with checks, knees and metadata: `summary.json`.
pub const SUMMARY_JSON: &str = "summary.json";
/// The verdicts of the scenario's checks in JUnit XML: `checks.xml`.
pub const CHECKS_XML: &str = "checks.xml";
/// The whole run as one self-contained page: `report.html`.
pub const REPORT_HTML: &str = "report.html";

/// The stem of a case's files: the case name, with `-r<n>` for the second
/// repetition on (`tasks-10`, `tasks-10-r2`).
pub fn case_stem(case: &str, repetition: u32) -> String {
    if repetition > 1 {
        format!("{case}-r{repetition}")
    } else {
        case.to_string()
    }
}

/// What separates a case's stem from a mix entry's name in the entry's
/// file name (`<stem>@<entry>.hdr`). Case and entry names are both
/// `[A-Za-z0-9._-]` (`scenario::check_name`), and so are the stems made
/// from them (sweeps, search steps, `-r<n>`): no name holds `@`, so an
/// entry's file never has the name of another case's file, and the name
/// splits back into stem and entry at its only `@`.
pub const REQUEST_SEPARATOR: char = '@';

/// `<stem>@<entry>.hdr`: the full-precision histogram of one entry of a
/// request mix, as [`CaseFile::Hdr`] is the case's.
pub fn request_hdr_name(case: &str, repetition: u32, entry: &str) -> String {
    format!(
        "{}{REQUEST_SEPARATOR}{entry}.{}",
        case_stem(case, repetition),
        CaseFile::Hdr.extension()
    )
}

/// The stem and entry name of a [`request_hdr_name`], or `None` for any
/// other file name (a case's own `<stem>.hdr` included).
pub fn parse_request_hdr_name(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_suffix(CaseFile::Hdr.extension())?;
    let rest = rest.strip_suffix('.')?;
    let (stem, entry) = rest.split_once(REQUEST_SEPARATOR)?;
    let ok = |s: &str| !s.is_empty() && !s.contains(REQUEST_SEPARATOR);
    (ok(stem) && ok(entry)).then_some((stem, entry))
}

/// The files written for each case and repetition, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseFile {
    /// `<stem>.hgrm`: the percentile distribution ([`hgrm`]).
    Hgrm,
    /// `<stem>.hdr`: the full-precision histogram ([`hdr::hdr`]).
    Hdr,
    /// `<stem>.hlog`: the per-second interval log ([`hdr::hlog`]).
    Hlog,
    /// `<stem>.timeline.csv`: per-second counts ([`timeline`]).
    Timeline,
}

impl CaseFile {
    /// Every per-case file, in write order.
    pub const ALL: [CaseFile; 4] = [
        CaseFile::Hgrm,
        CaseFile::Hdr,
        CaseFile::Hlog,
        CaseFile::Timeline,
    ];

    /// The file name's ending after the stem, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            CaseFile::Hgrm => "hgrm",
            CaseFile::Hdr => "hdr",
            CaseFile::Hlog => "hlog",
            CaseFile::Timeline => "timeline.csv",
        }
    }

    /// The file's name for a case and repetition.
    ///
    /// A mix entry's histogram is named by [`request_hdr_name`].
    pub fn name(self, case: &str, repetition: u32) -> String {
        format!("{}.{}", case_stem(case, repetition), self.extension())
    }

    /// The file's bytes.
    pub fn encode(self, data: &CaseData<'_>) -> Result<Vec<u8>, HistogramError> {
        match self {
            CaseFile::Hgrm => Ok(hgrm::hgrm(data.ok).into_bytes()),
            CaseFile::Hdr => hdr::hdr(data.ok),
            CaseFile::Hlog => hdr::hlog(data.timeline, data.started_at),
            CaseFile::Timeline => Ok(timeline::timeline_csv(data.timeline)),
        }
    }
}

/// What a case's files are written from: its recorded histograms.
#[derive(Debug, Clone, Copy)]
pub struct CaseData<'a> {
    /// Case name.
    pub case: &'a str,
    /// 1-based repetition.
    pub repetition: u32,
    /// Latency of the successful requests, µs.
    pub ok: &'a Histogram<u64>,
    /// The per-second histograms.
    pub timeline: &'a Timeline,
    /// Wall-clock start of the measured phase (the interval log's start).
    pub started_at: SystemTime,
    /// A `requests:` mix's entries, in mix order (empty for a single
    /// `request:`): each gets its own `.hdr` ([`request_hdr_name`]).
    pub requests: &'a [RequestData<'a>],
}

/// What one entry of a request mix's file is written from.
#[derive(Debug, Clone, Copy)]
pub struct RequestData<'a> {
    /// The entry's name.
    pub name: &'a str,
    /// Latency of the entry's successful requests, µs (what its row's
    /// latency columns come from).
    pub ok: &'a Histogram<u64>,
}

/// A per-case file that could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("case {case}: cannot encode {file}: {source}")]
pub struct CaseFileError {
    /// Case name.
    pub case: String,
    /// The file.
    pub file: String,
    /// What went wrong.
    pub source: HistogramError,
}

/// Every per-case file of one case, encoded (the histograms are not kept
/// once a case is over; the bytes are): the [`CaseFile`]s, then one
/// `.hdr` per mix entry.
pub fn case_files(data: &CaseData<'_>) -> Result<Vec<Encoded>, CaseFileError> {
    let fail = |file: String, source| CaseFileError {
        case: data.case.to_string(),
        file,
        source,
    };
    let mut out = Vec::with_capacity(CaseFile::ALL.len() + data.requests.len());
    for file in CaseFile::ALL {
        let name = file.name(data.case, data.repetition);
        match file.encode(data) {
            Ok(bytes) => out.push(Encoded { name, bytes }),
            Err(source) => return Err(fail(name, source)),
        }
    }
    for entry in data.requests {
        let name = request_hdr_name(data.case, data.repetition, entry.name);
        match hdr::hdr(entry.ok) {
            Ok(bytes) => out.push(Encoded { name, bytes }),
            Err(source) => return Err(fail(name, source)),
        }
    }
    Ok(out)
}

/// Why a writer could not produce its bytes.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// CSV encoding.
    #[error(transparent)]
    Csv(#[from] csv::Error),
    /// JSON encoding.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// One file of the results folder: its name and how to produce its bytes.
pub trait Writer {
    /// The file's name in the folder.
    fn file_name(&self) -> &str;
    /// The file's bytes.
    fn write(&self) -> Result<Vec<u8>, EncodeError>;
}

/// A file whose bytes are already made (per-case files, `checks.csv`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// File name.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl Writer for Encoded {
    fn file_name(&self) -> &str {
        &self.name
    }

    fn write(&self) -> Result<Vec<u8>, EncodeError> {
        Ok(self.bytes.clone())
    }
}

/// `summary.csv` of these results.
#[derive(Debug, Clone, Copy)]
pub struct Summary<'a>(pub &'a [CaseResult]);

impl Writer for Summary<'_> {
    fn file_name(&self) -> &str {
        SUMMARY
    }

    fn write(&self) -> Result<Vec<u8>, EncodeError> {
        Ok(summary::to_csv(self.0)?)
    }
}

/// `summary.json` of these results.
#[derive(Debug, Clone)]
pub struct SummaryJsonFile<'a>(pub SummaryJson<'a>);

impl Writer for SummaryJsonFile<'_> {
    fn file_name(&self) -> &str {
        SUMMARY_JSON
    }

    fn write(&self) -> Result<Vec<u8>, EncodeError> {
        Ok(self.0.to_json()?)
    }
}

/// `run.json`.
#[derive(Debug, Clone, Copy)]
pub struct RunJson<'a>(pub &'a RunInfo);

impl Writer for RunJson<'_> {
    fn file_name(&self) -> &str {
        RUN_JSON
    }

    fn write(&self) -> Result<Vec<u8>, EncodeError> {
        Ok(self.0.to_json()?)
    }
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
    let no_run_json = !dir.join(RUN_JSON).is_file();
    let mut stray: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| is_temp_name(name))
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

/// Whether a file name is one of [`write_atomic`]'s temporary files
/// (`.<name>.tmp-XXXXXX`), left behind only by a write that never finished.
fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp")
}

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

/// The default output folder: `results/<scenario>/<timestamp>/`.
pub fn default_out_dir(scenario: &str) -> PathBuf {
    let stamp = utc_now().replace([':', '-'], "");
    PathBuf::from("results").join(scenario).join(stamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_files_are_named_by_case_and_repetition() {
        let names: Vec<String> = CaseFile::ALL.iter().map(|f| f.name("a-1", 2)).collect();
        assert_eq!(
            names,
            [
                "a-1-r2.hgrm",
                "a-1-r2.hdr",
                "a-1-r2.hlog",
                "a-1-r2.timeline.csv"
            ]
        );
        assert_eq!(CaseFile::Hgrm.name("a", 1), "a.hgrm");
        let h = crate::recorder::new_histogram();
        let t = Timeline::default();
        let data = CaseData {
            case: "a",
            repetition: 1,
            ok: &h,
            timeline: &t,
            started_at: SystemTime::UNIX_EPOCH,
            requests: &[],
        };
        let files = case_files(&data).unwrap();
        assert_eq!(files.len(), 4);
        assert_eq!(files[3].bytes, b"second,ok,errors,p50_us,p99_us,max_us\n");
    }

    /// Each mix entry's `.hdr` follows the case's files, holds the entry's
    /// histogram, and its name splits back into stem and entry.
    #[test]
    fn mix_entries_get_a_histogram_file_each() {
        let mut get = crate::recorder::new_histogram();
        get.record(1_000).unwrap();
        get.record(2_000).unwrap();
        let put = crate::recorder::new_histogram();
        let t = Timeline::default();
        let requests = [
            RequestData {
                name: "get",
                ok: &get,
            },
            RequestData {
                name: "put.v2",
                ok: &put,
            },
        ];
        let data = CaseData {
            case: "a.b",
            repetition: 3,
            ok: &get,
            timeline: &t,
            started_at: SystemTime::UNIX_EPOCH,
            requests: &requests,
        };
        let files = case_files(&data).unwrap();
        let names: Vec<&str> = files.iter().skip(4).map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a.b-r3@get.hdr", "a.b-r3@put.v2.hdr"]);
        let back = hdr::read_hdr(std::str::from_utf8(&files[4].bytes).unwrap()).unwrap();
        assert_eq!(back, get);
        assert_eq!(
            parse_request_hdr_name("a.b-r3@put.v2.hdr"),
            Some(("a.b-r3", "put.v2"))
        );
        for other in [
            "a.b-r3.hdr",
            "a.b.hdr",
            "a@b.hlog",
            "@b.hdr",
            "a@.hdr",
            "a@b@c.hdr",
            "a@bhdr",
        ] {
            assert_eq!(parse_request_hdr_name(other), None, "{other}");
        }
        // Case `a` entry `b.x` and case `a.b` entry `x` differ: the
        // separator is the one character no name holds.
        assert_ne!(
            request_hdr_name("a", 1, "b.x"),
            request_hdr_name("a.b", 1, "x")
        );
        assert_ne!(request_hdr_name("a", 1, "x"), CaseFile::Hdr.name("a.x", 1));
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
}
