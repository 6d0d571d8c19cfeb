//! `checks.csv`: the verdicts of the scenario's checks, one row per check,
//! case and repetition (`case,repetition,check,passed,actual,threshold`),
//! and its reader. [`Verdict`] is the plain data every verdict writer
//! (`checks.csv`, `checks.xml`, `summary.json`, `report.html`) reads; the
//! checks themselves are evaluated in `crate::checks`.

use std::path::Path;

/// The outcome of one check against one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Case name.
    pub case: String,
    /// 1-based repetition of the case.
    pub repetition: u32,
    /// The check as written.
    pub expr: String,
    /// Whether the check held. Missing data never passes.
    pub passed: bool,
    /// Measured value, human-readable (`212ms`, `903.1/s`, `0.40%`), or
    /// `n/a (reason)` when it could not be measured.
    pub actual: String,
    /// The threshold, human-readable, with any model value resolved
    /// (`250ms`, `1.2 × model = 240ms`).
    pub threshold: String,
}

/// The header of `checks.csv`.
pub const COLUMNS: [&str; 6] = [
    "case",
    "repetition",
    "check",
    "passed",
    "actual",
    "threshold",
];

/// The verdicts as `checks.csv`: `case,repetition,check,passed,actual,threshold`.
pub fn checks_csv(verdicts: &[Verdict]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut rows = vec![COLUMNS.map(String::from)];
    rows.extend(verdicts.iter().map(|v| {
        [
            v.case.clone(),
            v.repetition.to_string(),
            v.expr.clone(),
            v.passed.to_string(),
            v.actual.clone(),
            v.threshold.clone(),
        ]
    }));
    for row in rows {
        // Writing into a Vec cannot fail.
        let _ = w.write_record(&row);
    }
    w.into_inner().unwrap_or_default()
}

/// Why `checks.csv` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum VerdictsError {
    /// The CSV itself is malformed, or a column is missing.
    #[error("{path}: not a valid checks.csv: {message}")]
    Csv {
        /// The file.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// A cell does not hold what its column should.
    #[error("{path}: line {line}, column {column:?}: {value:?} is not {expected}")]
    BadValue {
        /// The file.
        path: String,
        /// 1-based line.
        line: u64,
        /// Column name.
        column: &'static str,
        /// The cell as written.
        value: String,
        /// What the column holds.
        expected: &'static str,
    },
}

/// Reads `checks.csv` text back into verdicts; `path` is only used in
/// messages. Columns are found by name.
pub fn read_checks(path: &Path, bytes: &[u8]) -> Result<Vec<Verdict>, VerdictsError> {
    let path = path.display().to_string();
    let csv_error = |message: String| VerdictsError::Csv {
        path: path.clone(),
        message,
    };
    let mut reader = csv::ReaderBuilder::new().from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|e| csv_error(e.to_string()))?
        .clone();
    let mut at = [0usize; 6];
    for (slot, name) in at.iter_mut().zip(COLUMNS) {
        *slot = header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| csv_error(format!("missing column {name:?}")))?;
    }
    let mut verdicts = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        let cell = |i: usize| record.get(at[i]).unwrap_or("").trim().to_string();
        let bad = |i: usize, expected| VerdictsError::BadValue {
            path: path.clone(),
            line,
            column: COLUMNS[i],
            value: cell(i),
            expected,
        };
        let repetition = cell(1)
            .parse()
            .ok()
            .filter(|r| *r > 0)
            .ok_or_else(|| bad(1, "a repetition number (1 or more)"))?;
        let passed = match cell(3).as_str() {
            "true" => true,
            "false" => false,
            _ => return Err(bad(3, "true or false")),
        };
        verdicts.push(Verdict {
            case: cell(0),
            repetition,
            expr: cell(2),
            passed,
            actual: cell(4),
            threshold: cell(5),
        });
    }
    Ok(verdicts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_read_back_what_was_written() {
        let verdicts = vec![
            Verdict {
                case: "a".into(),
                repetition: 2,
                expr: "p99 < 250ms".into(),
                passed: false,
                actual: "n/a (no request succeeded)".into(),
                threshold: "250ms, \"quoted\"".into(),
            },
            Verdict {
                case: "b".into(),
                repetition: 1,
                expr: "error_rate < 1%".into(),
                passed: true,
                actual: "0.00%".into(),
                threshold: "1%".into(),
            },
        ];
        let bytes = checks_csv(&verdicts);
        assert_eq!(read_checks(Path::new("c.csv"), &bytes).unwrap(), verdicts);
        let err = read_checks(
            Path::new("c.csv"),
            b"case,repetition,check,passed,actual,threshold\na,1,x,maybe,1,2\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.csv: line 2, column \"passed\": \"maybe\" is not true or false"
        );
        let err = read_checks(Path::new("c.csv"), b"case\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.csv: not a valid checks.csv: missing column \"repetition\""
        );
    }
}
