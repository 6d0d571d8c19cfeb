//! The table printed after a run: one line per case, columns aligned, and
//! with a request mix one more line per entry, indented under its case.
//! The throughput and latency columns are metrics of [`crate::metric`].

use crate::metric::Metric;
use crate::results::CaseResult;

/// Renders results as an aligned text table.
pub fn render(results: &[CaseResult]) -> String {
    align(&cells(results))
}

/// The table's cells: the header, then one row per result (the HTML
/// report shows the same table).
pub fn cells(results: &[CaseResult]) -> Vec<Vec<String>> {
    let embedded = results.iter().any(|r| r.server.is_some());
    let mut header: Vec<&str> = vec![
        "case", "executor", "conc", "requests", "ok", "errors", "wall", "req/s", "p50", "p90",
        "p99", "p99.9", "max",
    ];
    if embedded {
        header.extend([
            "model wall",
            "x/model",
            "srv peak",
            "srv queued",
            "srv rejected",
        ]);
    }
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    let lines = results
        .iter()
        .flat_map(|r| std::iter::once(r).chain(r.parts.iter()));
    for r in lines {
        let lat = |m: Metric| m.number(r).map_or("-".to_string(), |v| m.human(v));
        let case = if !r.request.is_empty() {
            format!("  {}", r.request)
        } else if r.repetition > 1 {
            format!("{} #{}", r.case, r.repetition)
        } else {
            r.case.clone()
        };
        let conc = match (r.concurrency, r.target_rate) {
            (Some(n), _) => n.to_string(),
            (None, Some(rate)) => format!("{rate:.0}/s"),
            (None, None) => "-".into(),
        };
        let mut row = vec![
            case,
            r.executor.clone(),
            conc,
            r.requests.to_string(),
            r.ok.to_string(),
            r.error_count().to_string(),
            format!("{:.3}s", r.wall_seconds),
            throughput(r),
            lat(Metric::P50),
            lat(Metric::P90),
            lat(Metric::P99),
            lat(Metric::P999),
            lat(Metric::Max),
        ];
        if embedded {
            let model_wall = r
                .model
                .and_then(|m| m.wall)
                .map_or("-".into(), |w| format!("{:.3}s", w.as_secs_f64()));
            let srv = |f: fn(&crate::results::ServerView) -> u64| {
                r.server.as_ref().map_or("-".into(), |s| f(s).to_string())
            };
            // Closed loop: measured throughput over the model's. Open loop:
            // the utilisation λ·D/C the rate puts on the server.
            let ratio = match (r.target_rate, r.model) {
                (Some(_), Some(m)) => m.utilisation.map_or("-".into(), |u| format!("ρ={u:.2}")),
                _ => r
                    .throughput_vs_model()
                    .map_or("-".into(), |x| format!("{x:.2}")),
            };
            row.extend([
                if r.target_rate.is_some() {
                    "open".into()
                } else {
                    model_wall
                },
                ratio,
                srv(|s| s.peak_in_service),
                srv(|s| s.peak_queued),
                srv(|s| s.rejected),
            ]);
        }
        rows.push(row);
    }
    rows
}

/// The `req/s` cell: the number alone, the unit is in the header.
fn throughput(r: &CaseResult) -> String {
    match Metric::Throughput.value(r) {
        Ok(v) => format!("{:.1}", v.number()),
        Err(_) => "-".to_string(),
    }
}

fn align(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                if c < 2 {
                    format!("{cell:<w$}", w = widths[c])
                } else {
                    format!("{cell:>w$}", w = widths[c])
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * cols.saturating_sub(1)));
            out.push('\n');
        }
    }
    out
}

/// Error kinds seen in a case, e.g. `http_5xx=12 reset=3`, and the first
/// error in words when there is one (`; first: tls_certificate: ...`), for
/// the lines printed under the table.
pub fn error_summary(r: &CaseResult) -> Option<String> {
    let parts: Vec<String> = r
        .errors
        .nonzero()
        .map(|(k, n)| format!("{}={n}", k.as_str()))
        .collect();
    if parts.is_empty() {
        return None;
    }
    let mut line = format!("{}: {}", r.case, parts.join(" "));
    if let Some(first) = &r.first_error {
        line.push_str(&format!("; first: {first}"));
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Expectation;
    use crate::outcome::{ErrorCounts, ErrorKind};
    use crate::results::{Latency, ServerView};
    use std::time::Duration;

    fn result(case: &str, concurrency: Option<u64>, rate: Option<f64>) -> CaseResult {
        let mut errors = ErrorCounts::default();
        errors.add(ErrorKind::Http5xx);
        CaseResult {
            scenario: "s".into(),
            case: case.into(),
            base_case: case.into(),
            repetition: 1,
            executor: if rate.is_some() { "rate" } else { "tasks" }.into(),
            runtime: "multi_thread".into(),
            connection: "reuse".into(),
            protocol: "http1".into(),
            streams_per_connection: 1,
            concurrency,
            target_rate: rate,
            requests: 501,
            ok: 500,
            errors,
            statuses: Default::default(),
            wall_seconds: 1.0125,
            throughput: 493.8,
            achieved_rate: 494.8,
            late_sends: 0,
            skipped_sends: 0,
            connect_backoffs: 0,
            phases: Default::default(),
            first_error: None,
            latency: Some(Latency {
                min: 200_100,
                mean: 600_000.0,
                p50: 615_935,
                p90: 1_011_711,
                p99: 1_052_671,
                p999: 1_054_719,
                max: 1_054_719,
            }),
            service: None,
            server: Some(ServerView {
                received: 501,
                peak_in_service: 100,
                peak_queued: 400,
                rejected: 1,
                dropped: 0,
                timed_out: 0,
                connections: 3,
            }),
            model: Some(Expectation {
                throughput: 500.0,
                latency: Duration::from_millis(600),
                wall: Some(Duration::from_secs(1)),
                utilisation: rate.map(|r| r * 0.2 / 100.0),
            }),
            interrupted: false,
            request: String::new(),
            parts: Vec::new(),
        }
    }

    #[test]
    fn table_layout() {
        let rows = [
            result("500-tasks", Some(500), None),
            result("open-250rps", None, Some(250.0)),
        ];
        insta::assert_snapshot!(render(&rows));
        assert_eq!(error_summary(&rows[0]).unwrap(), "500-tasks: http_5xx=1");
    }

    /// A mix's entries follow their case, indented, each with its own
    /// counts; a case without a mix has no such lines.
    #[test]
    fn request_rows_are_indented_under_their_case() {
        let mut mixed = result("mixed", Some(4), None);
        let part = |name: &str, requests: u64| CaseResult {
            request: name.into(),
            requests,
            ok: requests,
            server: None,
            model: None,
            ..result("mixed", Some(4), None)
        };
        mixed.parts = vec![part("login", 350), part("home", 151)];
        let text = render(&[mixed, result("plain", Some(1), None)]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        assert!(lines[2].starts_with("mixed "), "{text}");
        assert!(lines[3].starts_with("  login "), "{text}");
        assert!(lines[3].contains(" 350 "), "{text}");
        assert!(lines[4].starts_with("  home "), "{text}");
        assert!(lines[5].starts_with("plain "), "{text}");
    }
}
