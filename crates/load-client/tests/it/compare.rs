//! `compare` on hand-made `summary.csv` files, written through the real
//! writer (`results::to_csv`) so they match the CSV contract.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use load_client::compare::{
    compare, load_summary, parse_tolerances, render, CompareError, Comparison, Format, Presence,
    Tolerances, Verdict,
};
use load_client::metric::Metric;
use load_client::outcome::{ErrorCounts, ErrorKind};
use load_client::results::{
    csv_header, human_us, to_csv, CaseResult, Latency, SummaryError, SCHEMA_VERSION,
};

/// A case with p50/p90/p99/max = p99_ms/2, p99_ms*0.8, p99_ms, p99_ms*2.
fn case(name: &str, repetition: u32, throughput: f64, p99_ms: u64, errors: u64) -> CaseResult {
    let us = p99_ms * 1000;
    let mut counts = ErrorCounts::default();
    for _ in 0..errors {
        counts.add(ErrorKind::Http5xx);
    }
    CaseResult {
        scenario: "smoke".into(),
        case: name.into(),
        base_case: name.into(),
        repetition,
        executor: "tasks".into(),
        runtime: "multi_thread".into(),
        connection: "reuse".into(),
        protocol: "http1".into(),
        streams_per_connection: 1,
        concurrency: Some(10),
        target_rate: None,
        requests: 1000,
        ok: 1000 - errors,
        errors: counts,
        statuses: BTreeMap::from([(200, 1000 - errors)]),
        wall_seconds: 1000.0 / throughput,
        throughput,
        achieved_rate: throughput,
        late_sends: 0,
        skipped_sends: 0,
        connect_backoffs: 0,
        phases: Default::default(),
        first_error: None,
        latency: Some(Latency {
            min: us / 4,
            mean: us as f64 / 2.0,
            p50: us / 2,
            p90: us * 8 / 10,
            p99: us,
            p999: us * 3 / 2,
            max: us * 2,
        }),
        service: None,
        server: None,
        model: None,
        interrupted: false,
        request: String::new(),
        parts: Vec::new(),
    }
}

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    /// A folder marked complete (it holds a `run.json`).
    fn new() -> Files {
        let files = Files {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        files.write("run.json", b"{}");
        files
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).expect("write file");
        path
    }

    fn results(&self, name: &str, results: &[CaseResult]) -> PathBuf {
        self.write(name, &to_csv(results).expect("csv"))
    }
}

fn compare_files(base: &Path, new: &Path) -> Comparison {
    let base = load_summary(base).unwrap_or_else(|e| panic!("{e}"));
    let new = load_summary(new).unwrap_or_else(|e| panic!("{e}"));
    compare(&base, &new, &Tolerances::default())
}

fn verdict(c: &Comparison, case: &str, metric: Metric) -> Verdict {
    c.cases
        .iter()
        .find(|k| k.case == case)
        .and_then(|k| k.metrics.iter().find(|m| m.metric == metric))
        .map(|m| m.verdict)
        .unwrap_or_else(|| panic!("no {metric} for {case}"))
}

/// Replaces the file's directory with a fixed name so snapshots are stable.
fn stable(text: &str, files: &Files) -> String {
    text.replace(&files.dir.path().display().to_string(), "DIR")
}

#[test]
fn unchanged_results_have_no_regression() {
    let f = Files::new();
    let rows = [case("a", 1, 500.0, 200, 0), case("b", 1, 50.0, 20, 3)];
    let base = f.results("base.csv", &rows);
    let new = f.results("new.csv", &rows);
    let c = compare_files(&base, &new);
    assert!(!c.has_regression());
    for k in &c.cases {
        assert_eq!(k.presence, Presence::Both);
        for m in &k.metrics {
            let expected = if m.metric == Metric::Max {
                Verdict::Info
            } else {
                Verdict::Ok
            };
            assert_eq!(m.verdict, expected, "{} {}", k.case, m.metric);
            assert_eq!(m.change, Some(0.0));
        }
    }
}

#[test]
fn improvements_are_not_regressions() {
    let f = Files::new();
    let base = f.results("base.csv", &[case("a", 1, 500.0, 200, 5)]);
    let new = f.results("new.csv", &[case("a", 1, 700.0, 100, 0)]);
    let c = compare_files(&base, &new);
    assert!(!c.has_regression());
    assert_eq!(verdict(&c, "a", Metric::Throughput), Verdict::Improved);
    assert_eq!(verdict(&c, "a", Metric::P99), Verdict::Improved);
    assert_eq!(verdict(&c, "a", Metric::P50), Verdict::Improved);
    // 0.5% -> 0%: half a point, within the one-point tolerance.
    assert_eq!(verdict(&c, "a", Metric::ErrorRate), Verdict::Ok);
}

#[test]
fn regression_beyond_tolerance_is_called() {
    let f = Files::new();
    let base = f.results(
        "base.csv",
        &[case("a", 1, 500.0, 200, 0), case("b", 1, 100.0, 10, 0)],
    );
    // a: p99 +50% (p50, p90 too); b: throughput -20%, error rate +2 points.
    let new = f.results(
        "new.csv",
        &[case("a", 1, 500.0, 300, 0), case("b", 1, 80.0, 10, 20)],
    );
    let c = compare_files(&base, &new);
    assert!(c.has_regression());
    assert_eq!(verdict(&c, "a", Metric::P99), Verdict::Regressed);
    assert_eq!(verdict(&c, "a", Metric::Throughput), Verdict::Ok);
    assert_eq!(verdict(&c, "b", Metric::Throughput), Verdict::Regressed);
    assert_eq!(verdict(&c, "b", Metric::ErrorRate), Verdict::Regressed);
    assert_eq!(verdict(&c, "b", Metric::P99), Verdict::Ok);
    insta::assert_snapshot!("regressed_table", stable(&render(&c, Format::Table), &f));
    insta::assert_snapshot!(
        "regressed_markdown",
        stable(&render(&c, Format::Markdown), &f)
    );
    insta::assert_snapshot!("regressed_csv", render(&c, Format::Csv));
}

#[test]
fn change_within_tolerance_is_ok_and_tolerances_can_be_tightened() {
    let f = Files::new();
    let base = f.results("base.csv", &[case("a", 1, 500.0, 200, 0)]);
    // Latency +9% (default tolerances 10% to 25%), throughput -8% (10%).
    let new = f.results("new.csv", &[case("a", 1, 460.0, 218, 0)]);
    let c = compare_files(&base, &new);
    assert!(!c.has_regression());
    assert_eq!(verdict(&c, "a", Metric::P99), Verdict::Ok);
    assert_eq!(verdict(&c, "a", Metric::Throughput), Verdict::Ok);

    let strict = parse_tolerances("p99=5%,throughput=5%").unwrap();
    let c = compare(
        &load_summary(&base).unwrap(),
        &load_summary(&new).unwrap(),
        &strict,
    );
    assert_eq!(verdict(&c, "a", Metric::P99), Verdict::Regressed);
    assert_eq!(verdict(&c, "a", Metric::Throughput), Verdict::Regressed);
}

#[test]
fn cases_on_one_side_are_reported_not_dropped() {
    let f = Files::new();
    let base = f.results(
        "base.csv",
        &[
            case("kept", 1, 500.0, 200, 0),
            case("removed", 1, 1.0, 1, 0),
        ],
    );
    let new = f.results(
        "new.csv",
        &[
            case("added", 1, 9.0, 9, 0),
            case("added", 2, 9.0, 9, 0),
            case("kept", 1, 500.0, 200, 0),
        ],
    );
    let c = compare_files(&base, &new);
    assert!(!c.has_regression());
    let found: Vec<(&str, Presence)> = c
        .cases
        .iter()
        .map(|k| (k.case.as_str(), k.presence))
        .collect();
    assert_eq!(
        found,
        [
            ("kept", Presence::Both),
            ("removed", Presence::OnlyBase),
            ("added", Presence::OnlyNew)
        ]
    );
    insta::assert_snapshot!("one_side_table", stable(&render(&c, Format::Table), &f));
    let md = render(&c, Format::Markdown);
    assert!(
        md.starts_with("### load-client compare — PASS: no regression in 1 case; 0 improved, 0 noise; 1 case only in base; 1 case only in new\n"),
        "{md}"
    );
    assert!(
        md.contains("| removed | - | - | - | - | only in base |"),
        "{md}"
    );
    assert!(
        md.contains("| added ×2 | - | - | - | - | only in new |"),
        "{md}"
    );
}

#[test]
fn repetitions_are_judged_on_the_median_with_spread() {
    let f = Files::new();
    // Base p99 over three runs: 180, 200, 260 ms: median 200, spread 80.
    let base = f.results(
        "base.csv",
        &[
            case("a", 1, 500.0, 180, 0),
            case("a", 2, 500.0, 260, 0),
            case("a", 3, 500.0, 200, 0),
        ],
    );
    // New: 190, 250, 270 ms: median 250 (+25%, beyond a 10% tolerance), but
    // it lies within the base range and the base median within the new
    // range: the repetitions do not tell the sides apart, so noise.
    let new = f.results(
        "new.csv",
        &[
            case("a", 1, 500.0, 190, 0),
            case("a", 2, 500.0, 250, 0),
            case("a", 3, 500.0, 270, 0),
        ],
    );
    let tol = parse_tolerances("p99=10%").unwrap();
    let c = compare(
        &load_summary(&base).unwrap(),
        &load_summary(&new).unwrap(),
        &tol,
    );
    let p99 = &c.cases[0]
        .metrics
        .iter()
        .find(|m| m.metric == Metric::P99)
        .unwrap();
    let (b, n) = (p99.base.unwrap(), p99.new.unwrap());
    assert_eq!((b.median, b.spread, b.samples), (200_000.0, 80_000.0, 3));
    assert_eq!((n.median, n.spread, n.samples), (250_000.0, 80_000.0, 3));
    assert_eq!(p99.verdict, Verdict::Noise);
    assert!(!c.has_regression());
    assert_eq!(c.cases[0].base_repetitions, 3);

    // The same median, with tight repetitions on both sides: a regression.
    let tight = f.results(
        "tight.csv",
        &[
            case("a", 1, 500.0, 199, 0),
            case("a", 2, 500.0, 200, 0),
            case("a", 3, 500.0, 201, 0),
        ],
    );
    let c = compare(
        &load_summary(&tight).unwrap(),
        &load_summary(&new).unwrap(),
        &tol,
    );
    assert_eq!(verdict(&c, "a", Metric::P99), Verdict::Regressed);
    let table = render(&c, Format::Table);
    let expected = format!("{} (spread 1%)", human_us(200_000));
    assert!(table.contains(&expected), "{table}");
}

#[test]
fn a_results_folder_is_read_through_its_summary() {
    let f = Files::new();
    let dir = f.dir.path().join("run");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("summary.csv"),
        to_csv(&[case("a", 1, 1.0, 1, 0)]).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("run.json"), "{}").unwrap();
    let summary = load_summary(&dir).unwrap();
    assert_eq!(summary.rows.len(), 1);
    assert_eq!(summary.path, dir.join("summary.csv"));

    let empty_dir = f.dir.path().join("empty");
    std::fs::create_dir(&empty_dir).unwrap();
    let err = load_summary(&empty_dir).unwrap_err();
    assert!(
        matches!(err, CompareError::Summary(SummaryError::NoSummary { .. })),
        "{err}"
    );
}

#[test]
fn incomplete_folders_are_refused_with_what_is_missing() {
    let f = Files::new();
    let summary = to_csv(&[case("a", 1, 1.0, 1, 0)]).unwrap();
    let folder = |name: &str, files: &[&str]| -> PathBuf {
        let dir = f.dir.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("summary.csv"), &summary).unwrap();
        for file in files {
            std::fs::write(dir.join(file), "").unwrap();
        }
        dir
    };
    let advice = "`load-client run` writes run.json last, so this run was cut short or is still going; use a complete folder, or run the scenario again";
    let cases = [
        (
            "no run.json",
            folder("cut", &["a.hgrm"]),
            "no run.json beside summary.csv".to_string(),
        ),
        (
            "a stray temporary file",
            folder("stray", &["run.json", ".a.hgrm.tmp-4242"]),
            "stray temporary files .a.hgrm.tmp-4242".to_string(),
        ),
        (
            "both",
            folder("both", &[".run.json.tmp-7", ".summary.csv.tmp-7"]),
            "no run.json beside summary.csv and stray temporary files .run.json.tmp-7, .summary.csv.tmp-7".to_string(),
        ),
    ];
    for (what, dir, missing) in cases {
        let expected = format!(
            "DIR/{}: incomplete results folder: {missing}; {advice}",
            dir.file_name().unwrap().to_string_lossy()
        );
        // The folder, or its summary.csv given directly: the same refusal.
        for path in [dir.clone(), dir.join("summary.csv")] {
            let err = load_summary(&path).expect_err(what);
            assert!(matches!(err, CompareError::Incomplete(_)), "{what}: {err}");
            assert_eq!(stable(&err.to_string(), &f), expected, "{what}");
        }
    }

    // The binary exits 2 and names the folder.
    let complete = folder("complete", &["run.json"]);
    let cut = f.dir.path().join("cut");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_load-client"))
        .arg("compare")
        .args([&complete, &cut])
        .output()
        .expect("run load-client");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "{}: incomplete results folder: no run.json",
            cut.display()
        )),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

/// `summary.csv` text with one cell replaced.
fn with_cell(column: &str, value: &str) -> Vec<u8> {
    let text = String::from_utf8(to_csv(&[case("a", 1, 500.0, 200, 0)]).unwrap()).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let index = header.split(',').position(|h| h == column).unwrap();
    let mut cells: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    cells[index] = value.to_string();
    format!("{header}\n{}\n", cells.join(",")).into_bytes()
}

/// `summary.csv` text without one column.
fn without_column(csv: &[u8], column: &str) -> Vec<u8> {
    let text = String::from_utf8(csv.to_vec()).unwrap();
    let index = text
        .lines()
        .next()
        .unwrap()
        .split(',')
        .position(|h| h == column)
        .unwrap();
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let mut cells: Vec<&str> = line.split(',').collect();
            cells.remove(index);
            cells.join(",")
        })
        .collect();
    format!("{}\n", lines.join("\n")).into_bytes()
}

/// The error for a file with these bytes, with the temp folder replaced by `DIR`.
fn error_for(bytes: &[u8]) -> String {
    let f = Files::new();
    let path = f.write("summary.csv", bytes);
    let err = load_summary(&path).expect_err("must be refused");
    stable(&err.to_string(), &f)
}

#[test]
fn bad_files_are_refused_with_file_line_and_column() {
    let header = csv_header().join(",");
    let without_p99 = header.replace(",lat_p99_us", "");
    let newer = (SCHEMA_VERSION + 1).to_string();
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        (
            "empty file",
            Vec::new(),
            "DIR/summary.csv: the file is empty; expected a summary.csv with a header line".into(),
        ),
        (
            "header only",
            format!("{header}\n").into_bytes(),
            "DIR/summary.csv: no result rows after the header; the run produced no results".into(),
        ),
        (
            "another schema version",
            with_cell("schema_version", &newer),
            format!("DIR/summary.csv: line 2, column \"schema_version\": found \"{newer}\", but this load-client reads schema version {SCHEMA_VERSION}; compare files written by the same schema version (re-run the older side)"),
        ),
        (
            "another schema version with other columns",
            without_column(&with_cell("schema_version", &newer), "lat_p99_us"),
            format!("DIR/summary.csv: line 2, column \"schema_version\": found \"{newer}\", but this load-client reads schema version {SCHEMA_VERSION}; compare files written by the same schema version (re-run the older side)"),
        ),
        (
            "missing column",
            format!("{without_p99}\n").into_bytes(),
            "DIR/summary.csv: line 1: missing column \"lat_p99_us\"; a summary.csv needs the columns schema_version, scenario, case, repetition, requests, errors, throughput, lat_min_us, lat_p50_us, lat_p90_us, lat_p99_us, lat_max_us".into(),
        ),
        (
            "non-numeric latency",
            with_cell("lat_p50_us", "fast"),
            "DIR/summary.csv: line 2, column \"lat_p50_us\": \"fast\" is not a non-negative number or empty".into(),
        ),
        (
            "negative throughput",
            with_cell("throughput", "-3"),
            "DIR/summary.csv: line 2, column \"throughput\": \"-3\" is not a non-negative number or empty".into(),
        ),
        (
            "fractional request count",
            with_cell("requests", "1.5"),
            "DIR/summary.csv: line 2, column \"requests\": \"1.5\" is not a whole number".into(),
        ),
        (
            "repetition zero",
            with_cell("repetition", "0"),
            "DIR/summary.csv: line 2, column \"repetition\": \"0\" is not a repetition number (1 or more)".into(),
        ),
        (
            "short row",
            format!("{header}\n1,smoke,a\n").into_bytes(),
            format!("DIR/summary.csv: line 2: not a valid summary.csv: CSV error: record 1 (line: 2, byte: {}): found record with 3 fields, but the previous record has {} fields", header.len() + 1, csv_header().len()),
        ),
    ];
    for (what, bytes, message) in cases {
        assert_eq!(error_for(&bytes), message, "{what}");
    }
}

#[test]
fn garbage_never_panics() {
    let inputs: Vec<Vec<u8>> = vec![
        vec![0xff, 0xfe, 0x00, 0x01, 0x80, b'\n', 0xc3],
        b"\x00\x00\x00\x00".to_vec(),
        b"\"unterminated\n".to_vec(),
        b"schema_version\n1\n".to_vec(),
        b"not,a,summary\n1,2,3\n".to_vec(),
        (0u8..=255).cycle().take(4096).collect(),
        "schema_version,scenario\n\u{feff}1,x\n".into(),
    ];
    for bytes in inputs {
        let message = error_for(&bytes);
        assert!(message.starts_with("DIR/summary.csv: "), "{message}");
    }
    let missing = load_summary(Path::new("/nonexistent/summary.csv")).unwrap_err();
    // A file that cannot be read is said so before the folder is judged.
    assert!(
        missing
            .to_string()
            .starts_with("/nonexistent/summary.csv: cannot read:"),
        "{missing}"
    );
}

#[test]
fn columns_are_found_by_name_not_position() {
    // The same row with its columns in reverse order still reads.
    let text = String::from_utf8(to_csv(&[case("a", 1, 500.0, 200, 0)]).unwrap()).unwrap();
    let reversed: Vec<String> = text
        .lines()
        .map(|line| line.split(',').rev().collect::<Vec<_>>().join(","))
        .collect();
    let f = Files::new();
    let path = f.write(
        "summary.csv",
        format!("{}\n", reversed.join("\n")).as_bytes(),
    );
    let summary = load_summary(&path).unwrap();
    assert_eq!(Metric::P99.number(&summary.rows[0]), Some(200_000.0));
    assert_eq!(Metric::Throughput.number(&summary.rows[0]), Some(500.0));
}
