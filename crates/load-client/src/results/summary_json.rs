//! `summary.json`: the content of `summary.csv` for programs, typed, with
//! the checks' verdicts, the knees of the sweeps and the run's metadata;
//! versioned by `schema_version` and described by the JSON Schema in
//! `schemas/summary.schema.json` (a test validates every summary written).
//!
//! ```text
//! { "schema_version": 2,                      same version as summary.csv
//!   "run":     { ... },                       run.json's fields
//!   "columns": [ {"name", "unit"}, ... ],     summary.csv's header
//!   "cases":   [ {"<column>": value, ...} ],  one object per summary.csv row
//!   "checks":  [ {"case", "repetition", "check", "passed", "actual", "threshold"} ],
//!   "knees":   [ {"scenario", "base_case", "over", "unit", "knee", ...} ] }
//! ```
//!
//! The cases come from [`summary::columns`] like the CSV's rows, so a
//! column added there is in the JSON too. A cell is typed by its column:
//! a column with a unit holds a number (the statuses' `status:count;…`
//! excepted), `interrupted` a boolean, `schema_version` and `repetition`
//! whole numbers, every other column text; an empty cell is `null`.
//!
//! Reading: [`to_summary_csv`] turns a `summary.json` back into
//! `summary.csv` text, so one reader ([`super::summary`]) checks the
//! version, the columns and every cell of either format.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};

use super::run_json::RunInfo;
use super::summary::{self, SummaryColumn};
use super::verdicts::Verdict;
use super::CaseResult;

/// One sweep's knee, as plain data (found by `report`'s analysis).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KneeRecord {
    /// Scenario name.
    pub scenario: String,
    /// The sweep's case name in the scenario file.
    pub base_case: String,
    /// What the sweep varies: `concurrency` or `rate`.
    pub over: String,
    /// The unit of the loads: `tasks`, `in flight` or `req/s`.
    pub unit: String,
    /// The loads measured, in order, without repeats.
    pub loads: Vec<f64>,
    /// The load at the knee; `None` when no knee was found.
    pub knee: Option<f64>,
    /// The plateau's throughput, req/s (the peak when throughput falls).
    pub plateau_throughput: Option<f64>,
    /// Why there is no knee.
    pub no_knee: Option<String>,
    /// The model's knee: C (closed loop) or C/D (open loop).
    pub model_knee: Option<f64>,
    /// The model's saturation throughput C/D, req/s.
    pub model_throughput: Option<f64>,
    /// The report's line for this sweep, as `run` and `report` print it.
    pub text: String,
}

/// Everything `summary.json` holds.
#[derive(Debug, Clone)]
pub struct SummaryJson<'a> {
    /// The run's metadata.
    pub info: &'a RunInfo,
    /// The results, one per case and repetition.
    pub results: &'a [CaseResult],
    /// The checks' verdicts.
    pub verdicts: &'a [Verdict],
    /// The sweeps' knees.
    pub knees: Vec<KneeRecord>,
}

impl SummaryJson<'_> {
    /// The `summary.json` text: pretty-printed JSON.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut out = serde_json::to_vec_pretty(self)?;
        out.push(b'\n');
        Ok(out)
    }
}

impl Serialize for SummaryJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(6))?;
        map.serialize_entry("schema_version", &summary::SCHEMA_VERSION)?;
        map.serialize_entry("run", self.info)?;
        map.serialize_entry("columns", &Columns)?;
        map.serialize_entry("cases", &Cases(self.results))?;
        map.serialize_entry("checks", &Checks(self.verdicts))?;
        map.serialize_entry("knees", &self.knees)?;
        map.end()
    }
}

struct Columns;

impl Serialize for Columns {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for column in summary::columns() {
            seq.serialize_element(&serde_json::json!({
                "name": column.name(),
                "unit": column.unit(),
            }))?;
        }
        seq.end()
    }
}

struct Cases<'a>(&'a [CaseResult]);

impl Serialize for Cases<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for result in self.0 {
            seq.serialize_element(&Row(result))?;
        }
        seq.end()
    }
}

/// One result as an object, in column order.
struct Row<'a>(&'a CaseResult);

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for column in summary::columns() {
            map.serialize_entry(&column.name(), &typed(&column, &column.get(self.0)))?;
        }
        map.end()
    }
}

struct Checks<'a>(&'a [Verdict]);

impl Serialize for Checks<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for v in self.0 {
            seq.serialize_element(&serde_json::json!({
                "case": v.case,
                "repetition": v.repetition,
                "check": v.expr,
                "passed": v.passed,
                "actual": v.actual,
                "threshold": v.threshold,
            }))?;
        }
        seq.end()
    }
}

/// What a column's cells are in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellType {
    /// A number (whole numbers stay whole).
    Number,
    /// `true` or `false`.
    Bool,
    /// A string.
    Text,
}

/// Columns without a unit that hold whole numbers.
const UNITLESS_NUMBERS: &[&str] = &["schema_version", "repetition"];
/// Columns that hold `true` or `false`.
const FLAGS: &[&str] = &["interrupted"];

/// The JSON type of a column's cells (see the module documentation).
pub fn cell_type(column: &SummaryColumn) -> CellType {
    let name = column.name();
    if FLAGS.contains(&&*name) {
        CellType::Bool
    } else if UNITLESS_NUMBERS.contains(&&*name) {
        CellType::Number
    } else if column.unit().is_empty() || column.unit().contains(':') {
        CellType::Text
    } else {
        CellType::Number
    }
}

/// A cell as its JSON value; a cell that does not fit its type stays text
/// (the schema test would then fail, pointing at the column).
fn typed(column: &SummaryColumn, cell: &str) -> serde_json::Value {
    use serde_json::Value;
    if cell.is_empty() {
        return Value::Null;
    }
    let as_text = || Value::String(cell.to_string());
    match cell_type(column) {
        CellType::Text => as_text(),
        CellType::Bool => match cell {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => as_text(),
        },
        CellType::Number => {
            if let Ok(n) = cell.parse::<u64>() {
                Value::from(n)
            } else if let Ok(n) = cell.parse::<i64>() {
                Value::from(n)
            } else {
                cell.parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map_or_else(as_text, Value::Number)
            }
        }
    }
}

/// Why a `summary.json` could not be turned back into summary rows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SummaryJsonError {
    /// Not JSON, or not the shape of a summary.
    #[error("{0}")]
    Shape(String),
}

/// `summary.json` text back as `summary.csv` text: the header from
/// `columns`, one record per case (`null` empty, numbers and booleans as
/// written). The CSV reader then checks it like any `summary.csv`; its
/// "line N" is case number N − 1.
pub fn to_summary_csv(bytes: &[u8]) -> Result<Vec<u8>, SummaryJsonError> {
    use serde_json::Value;
    let shape = |what: &str| SummaryJsonError::Shape(what.to_string());
    let doc: Value = serde_json::from_slice(bytes)
        .map_err(|e| SummaryJsonError::Shape(format!("not valid JSON: {e}")))?;
    let columns: Vec<String> = doc
        .get("columns")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            shape("no \"columns\" array; expected a summary.json written by load-client")
        })?
        .iter()
        .map(|c| {
            c.get("name")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| shape("a \"columns\" item without a \"name\" string"))
        })
        .collect::<Result<_, _>>()?;
    let cases = doc.get("cases").and_then(Value::as_array).ok_or_else(|| {
        shape("no \"cases\" array; expected a summary.json written by load-client")
    })?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| SummaryJsonError::Shape(e.to_string());
    w.write_record(&columns).map_err(csv_err)?;
    for (i, case) in cases.iter().enumerate() {
        let object = case
            .as_object()
            .ok_or_else(|| SummaryJsonError::Shape(format!("cases[{i}] is not an object")))?;
        let record: Vec<String> = columns
            .iter()
            .map(|name| match object.get(name) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            })
            .collect();
        w.write_record(&record).map_err(csv_err)?;
    }
    w.into_inner()
        .map_err(|e| SummaryJsonError::Shape(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Latency;

    fn result() -> CaseResult {
        CaseResult {
            scenario: "s".into(),
            case: "100".into(),
            base_case: "100".into(),
            repetition: 2,
            executor: "tasks".into(),
            runtime: "multi_thread".into(),
            connection: "reuse".into(),
            concurrency: Some(10),
            requests: 10,
            ok: 10,
            wall_seconds: 1.5,
            throughput: 6.667,
            latency: Some(Latency {
                min: 1,
                mean: 2.5,
                p50: 2,
                p90: 3,
                p99: 4,
                p999: 5,
                max: 6,
            }),
            statuses: [(200, 10)].into(),
            ..CaseResult::default()
        }
    }

    #[test]
    fn cells_are_typed_by_their_column() {
        let info = RunInfo::default();
        let results = [result()];
        let json = SummaryJson {
            info: &info,
            results: &results,
            verdicts: &[],
            knees: Vec::new(),
        };
        let doc: serde_json::Value = serde_json::from_slice(&json.to_json().unwrap()).unwrap();
        let case = &doc["cases"][0];
        assert_eq!(
            case["case"], "100",
            "a case name that looks like a number stays text"
        );
        assert_eq!(case["repetition"], 2);
        assert_eq!(case["concurrency"], 10);
        assert_eq!(case["target_rate"], serde_json::Value::Null);
        assert_eq!(case["throughput"], 6.667);
        assert_eq!(case["lat_mean_us"], 2.5);
        assert_eq!(case["interrupted"], false);
        assert_eq!(case["statuses"], "200:10");
        assert_eq!(case["schema_version"], summary::SCHEMA_VERSION);
        assert_eq!(doc["schema_version"], summary::SCHEMA_VERSION);
        let names: Vec<&str> = case
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(names.len(), summary::columns().count());
        assert_eq!(doc["columns"].as_array().unwrap().len(), names.len());
    }

    #[test]
    fn a_summary_json_reads_back_as_its_csv() {
        let info = RunInfo::default();
        let results = [
            result(),
            CaseResult {
                latency: None,
                ..result()
            },
        ];
        let json = SummaryJson {
            info: &info,
            results: &results,
            verdicts: &[],
            knees: Vec::new(),
        };
        let csv = to_summary_csv(&json.to_json().unwrap()).unwrap();
        let back = summary::read_results(
            std::path::Path::new("summary.json"),
            &csv,
            summary::SummaryNeeds {
                columns: &["schema_version"],
                needed_by: "this test",
                on_other_version: "",
            },
        )
        .unwrap();
        assert_eq!(back, results);
        for (bytes, message) in [
            (
                &b"nope"[..],
                "not valid JSON: expected ident at line 1 column 2",
            ),
            (
                b"{}",
                "no \"columns\" array; expected a summary.json written by load-client",
            ),
            (
                b"{\"columns\": [], \"cases\": [1]}",
                "cases[0] is not an object",
            ),
        ] {
            assert_eq!(to_summary_csv(bytes).unwrap_err().to_string(), message);
        }
    }
}
