//! `<case>.hgrm`: a histogram in HdrHistogram's percentile-distribution
//! text format (values in milliseconds), as read by the standard
//! HdrHistogram plotters, and its reader.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

/// A histogram as `.hgrm` text.
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

/// One row of a parsed `.hgrm` file: value (ms), percentile, total count.
pub type HgrmRow = (f64, f64, u64);

/// A `.hgrm` line that is not `Value Percentile TotalCount [...]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: expected Value Percentile TotalCount columns")]
pub struct HgrmError {
    /// 1-based line.
    pub line: usize,
}

/// Reads the rows back from `.hgrm` text (comments and the header line are
/// skipped).
pub fn parse_hgrm(text: &str) -> Result<Vec<HgrmRow>, HgrmError> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with("Value") {
            continue;
        }
        let cols: Vec<&str> = t.split_whitespace().collect();
        let bad = || HgrmError { line: i + 1 };
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            parse_hgrm("Value\n1.0 0.5\n").unwrap_err().to_string(),
            "line 2: expected Value Percentile TotalCount columns"
        );
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
}
