//! `run.json`: the run's metadata (tool, machine, scenario, target,
//! request, start time, cases, the embedded server's model parameters).
//! Written last, as the mark of a complete folder; read back through the
//! same types.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Metadata of a run, written as `run.json`. Fields missing from a file
/// (an older or hand-written one) read as empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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
    /// `--set` overrides applied, credentials redacted.
    pub overrides: Vec<String>,
    /// Target: `embedded` or the URL, its password redacted.
    pub target: String,
    /// Request line and headers, with secrets redacted.
    pub request: RequestInfo,
    /// The TLS set-up, when the target speaks TLS; left out of the file
    /// otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsInfo>,
    /// UTC start time, RFC 3339.
    pub started_at: String,
    /// Whether the run was interrupted (Ctrl-C) before it finished.
    pub interrupted: bool,
    /// Cases run, in order.
    pub cases: Vec<String>,
    /// The embedded server's model parameters; `None` for an external target.
    pub model: Option<ModelParams>,
    /// The answers of the run's searches, in run order; left out of the
    /// file when the run had none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub searches: Vec<SearchRecord>,
    /// The embedded server's run-time changes (`schedule:` phases) during
    /// each case, timed from the case's measured start; left out of the
    /// file when there were none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<CasePhases>,
    /// Shard I of N (`run --shard`); absent for a run that is not sharded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    /// Host name of the machine that ran it (a pod's name in Kubernetes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `--start-at`: the agreed start of the first case's measured phase,
    /// RFC 3339 with milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
    /// With `start_at`: how late (positive) or early (negative) this run
    /// was ready for it, seconds. A late open loop still starts at
    /// `start_at` and counts the lateness as latency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_skew_seconds: Option<f64>,
    /// The checks evaluated per case (scenario-wide ones first), as
    /// written, so `merge` can judge the merged result; left out when none.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, Vec<String>>,
    /// A merged folder (`load-client merge`): the shard folders it was
    /// merged from, in shard order; left out otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
}

/// Which shard a run was, as `run.json` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// From 0.
    pub index: u32,
    /// The number of shards.
    pub count: u32,
}

/// The server's phase changes during one case, as `run.json` records them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CasePhases {
    /// The case.
    pub case: String,
    /// Its repetition, from 1.
    pub repetition: u32,
    /// The changes, in the order they took effect.
    pub changes: Vec<PhaseMark>,
}

/// One change of the server's settings during a case.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseMark {
    /// When it took effect, seconds after the case's measured start (the
    /// server's own clock).
    pub at_seconds: f64,
    /// Where it came from: `schedule[i]` or `admin`.
    pub source: String,
    /// The change, as the JSON merge patch that was applied.
    pub set: serde_json::Value,
}

impl PhaseMark {
    /// A short label: each changed field and its value,
    /// `pools.db.capacity 10, delay 50ms`.
    pub fn label(&self) -> String {
        fn walk(value: &serde_json::Value, path: &mut Vec<String>, out: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    for (key, inner) in map {
                        path.push(key.clone());
                        walk(inner, path, out);
                        path.pop();
                    }
                }
                serde_json::Value::String(text) => out.push(format!("{} {text}", path.join("."))),
                other => out.push(format!("{} {other}", path.join("."))),
            }
        }
        let mut out = Vec::new();
        walk(&self.set, &mut Vec::new(), &mut out);
        out.join(", ")
    }
}

/// Where one search ended, as `run.json` records it. Loads are in the unit
/// of what the search varies: requests per second, or tasks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchRecord {
    /// The case's name (the steps' `base_case`).
    pub case: String,
    /// What the search varied: `rate` or `tasks`.
    pub over: String,
    /// The objective, as written.
    pub objective: Vec<String>,
    /// The highest load that met the objective; `None` when none did.
    pub highest_pass: Option<f64>,
    /// The lowest load that failed it (confirmed); `None` when none did.
    pub lowest_fail: Option<f64>,
    /// The parts of the objective that failed at `lowest_fail`.
    pub broke: Vec<String>,
    /// Steps run, re-runs included.
    pub steps: u32,
    /// Whether the bracket reached the precision (or a bound of the load).
    pub converged: bool,
    /// The model's limit against the embedded server: C/D for a rate, C
    /// for tasks; `None` otherwise.
    pub model_limit: Option<f64>,
}

/// The TLS set-up as `run.json` records it (its `tls` object).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsInfo {
    /// `tls.insecure`: certificates were not verified.
    pub insecure: bool,
    /// `tls.server_name`, when given.
    pub server_name: Option<String>,
    /// `tls.ca`, the extra roots file, when given.
    pub ca: Option<String>,
    /// `tls.client_cert`, when mutual TLS was used.
    pub client_cert: Option<String>,
}

/// The request as recorded in `run.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
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

/// The embedded server's parameters as `run.json` records them (its
/// `model` object): what the queueing model was computed from (the model
/// module converts them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelParams {
    /// Service delay D in µs; for random delays, their mean.
    pub delay_us: u64,
    /// Capacity C, requests served at once; `None` for unlimited.
    pub capacity: Option<u64>,
    /// Queue bound Q behind a full capacity.
    pub queue: u64,
}

/// Why `run.json` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RunJsonError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a `run.json`.
    #[error("{}: not a valid run.json: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What the JSON reader said (with line and column).
        source: serde_json::Error,
    },
}

impl RunInfo {
    /// The `run.json` text: pretty-printed JSON.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec_pretty(self)
    }

    /// Reads a `run.json` file.
    pub fn read(path: &Path) -> Result<RunInfo, RunJsonError> {
        let bytes = std::fs::read(path).map_err(|source| RunJsonError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|source| RunJsonError::Json {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(secs: u64) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_781), (2026, 11, 24));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(rfc3339(1_764_000_100), "2025-11-24T16:01:40Z");
    }

    #[test]
    fn run_info_reads_back_what_it_wrote_and_tolerates_missing_fields() {
        let info = RunInfo {
            tool_version: "1.2.3".into(),
            git_revision: Some("abc".into()),
            cores: 4,
            scenario: "s".into(),
            request: RequestInfo {
                method: "GET".into(),
                headers: vec![("accept".into(), "*/*".into())],
                ..RequestInfo::default()
            },
            cases: vec!["a".into(), "b".into()],
            model: Some(ModelParams {
                delay_us: 20_000,
                capacity: None,
                queue: 7,
            }),
            ..RunInfo::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        std::fs::write(&path, info.to_json().unwrap()).unwrap();
        assert_eq!(RunInfo::read(&path).unwrap(), info);
        let sharded = RunInfo {
            shard: Some(ShardInfo { index: 2, count: 4 }),
            host: Some("pod-2".into()),
            start_at: Some("2026-11-30T12:00:00.000Z".into()),
            start_skew_seconds: Some(-0.25),
            checks: BTreeMap::from([("a".into(), vec!["throughput > 10/s".into()])]),
            merged_from: vec!["s0".into()],
            ..info.clone()
        };
        std::fs::write(&path, sharded.to_json().unwrap()).unwrap();
        assert_eq!(RunInfo::read(&path).unwrap(), sharded);
        // An unsharded run's file has none of the new fields.
        let text = String::from_utf8(info.to_json().unwrap()).unwrap();
        assert!(
            !text.contains("shard") && !text.contains("start_at"),
            "{text}"
        );
        std::fs::write(&path, r#"{"scenario": "hand-written"}"#).unwrap();
        let partial = RunInfo::read(&path).unwrap();
        assert_eq!(
            (partial.scenario.as_str(), partial.model),
            ("hand-written", None)
        );
        let mark = PhaseMark {
            at_seconds: 10.0,
            source: "schedule[0]".into(),
            set: serde_json::json!({"capacity": 5, "routes": {"w": {"delay": "1s"}}}),
        };
        assert_eq!(mark.label(), "capacity 5, routes.w.delay 1s");
        let with_phases = RunInfo {
            phases: vec![CasePhases {
                case: "a".into(),
                repetition: 1,
                changes: vec![mark],
            }],
            ..info.clone()
        };
        std::fs::write(&path, with_phases.to_json().unwrap()).unwrap();
        assert_eq!(RunInfo::read(&path).unwrap(), with_phases);
        std::fs::write(&path, r#"{"model": {"delay_us": "x"}}"#).unwrap();
        let err = RunInfo::read(&path).unwrap_err().to_string();
        assert!(
            err.contains("run.json: not a valid run.json: invalid type"),
            "{err}"
        );
    }
}
