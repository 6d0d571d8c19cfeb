//! `<case>.timeline.csv`: one row per second of the measured phase,
//! `second,ok,errors,p50_us,p99_us,max_us` (percentiles of the successful
//! requests that finished in that second; empty when there were none), and
//! its reader.

use std::fmt::Write as _;

use crate::recorder::Timeline;

/// The header line's columns.
pub const COLUMNS: [&str; 6] = ["second", "ok", "errors", "p50_us", "p99_us", "max_us"];

/// The per-second timeline as CSV text.
pub fn timeline_csv(timeline: &Timeline) -> Vec<u8> {
    let mut out = format!("{}\n", COLUMNS.join(","));
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

/// One second of a timeline, read back. Rows are in file order; the
/// `second` column is not needed to place them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineRow {
    /// Successful requests that finished in this second.
    pub ok: u64,
    /// Failed requests that finished in this second (0 when the column is
    /// missing).
    pub errors: u64,
    /// Median latency, µs; `None` when empty or missing.
    pub p50_us: Option<u64>,
    /// 99th percentile latency, µs; `None` when empty or missing.
    pub p99_us: Option<u64>,
    /// Largest latency, µs; `None` when empty or missing.
    pub max_us: Option<u64>,
}

/// Why a timeline could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimelineError {
    /// The CSV itself is malformed.
    #[error("{0}")]
    Csv(String),
    /// The `ok` column is not in the header.
    #[error("missing column {0:?}")]
    MissingColumn(&'static str),
    /// A cell that should hold a number does not.
    #[error("line {line}, column {column:?}: not a number")]
    NotANumber {
        /// 1-based line.
        line: usize,
        /// Column name.
        column: &'static str,
    },
}

/// Reads timeline CSV text: the `ok` column is required, the others are
/// read when present.
pub fn read_timeline(text: &str) -> Result<Vec<TimelineRow>, TimelineError> {
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| TimelineError::Csv(e.to_string()))?
        .clone();
    let at = |name: &str| header.iter().position(|h| h.trim() == name);
    let ok_at = at("ok").ok_or(TimelineError::MissingColumn("ok"))?;
    let (errors_at, p50_at, p99_at, max_at) =
        (at("errors"), at("p50_us"), at("p99_us"), at("max_us"));
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| TimelineError::Csv(e.to_string()))?;
        let line = i + 2;
        let cell =
            |at: Option<usize>, column: &'static str| -> Result<Option<u64>, TimelineError> {
                let text = at.and_then(|at| record.get(at)).unwrap_or("").trim();
                if text.is_empty() {
                    return Ok(None);
                }
                text.parse()
                    .map(Some)
                    .map_err(|_| TimelineError::NotANumber { line, column })
            };
        rows.push(TimelineRow {
            ok: cell(Some(ok_at), "ok")?.ok_or(TimelineError::NotANumber { line, column: "ok" })?,
            errors: cell(errors_at, "errors")?.unwrap_or(0),
            p50_us: cell(p50_at, "p50_us")?,
            p99_us: cell(p99_at, "p99_us")?,
            max_us: cell(max_at, "max_us")?,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeline_reads_back_what_was_written() {
        let mut t = Timeline::default();
        t.record(0, Some(1_000));
        t.record(2, Some(2_000));
        t.record(2, Some(3_000));
        t.record(2, None);
        let text = String::from_utf8(timeline_csv(&t)).unwrap();
        let rows = read_timeline(&text).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[0].ok, rows[0].errors), (1, 0));
        assert_eq!(
            rows[1],
            TimelineRow {
                ok: 0,
                errors: 0,
                p50_us: None,
                p99_us: None,
                max_us: None
            }
        );
        assert_eq!((rows[2].ok, rows[2].errors), (2, 1));
        assert!(rows[2].max_us.is_some_and(|m| (3_000..3_100).contains(&m)));
    }

    #[test]
    fn errors_say_the_line_and_column() {
        assert_eq!(
            read_timeline("second,errors\n0,1\n")
                .unwrap_err()
                .to_string(),
            "missing column \"ok\""
        );
        assert_eq!(
            read_timeline("second,ok,p99_us\n0,x,1\n")
                .unwrap_err()
                .to_string(),
            "line 2, column \"ok\": not a number"
        );
        assert_eq!(
            read_timeline("second,ok,p99_us\n0,1,1.5\n")
                .unwrap_err()
                .to_string(),
            "line 2, column \"p99_us\": not a number"
        );
    }
}
