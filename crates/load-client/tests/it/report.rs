//! Integration tests of `report`: the saturation sweep against the embedded
//! server finds the model's knee and plateau, and every plot it writes is a
//! valid SVG (and a PNG of the right size when a font is installed).

use crate::util;

use std::path::Path;

use load_client::plot::{self, PngRenderer};
use load_client::report::{self, ModelSource};
use load_client::results::{csv_header, SCHEMA_VERSION};
use load_client::run::{run, RunOptions};

/// Parses an SVG plot and checks its root, its size and that it has text.
fn assert_valid_svg(path: &Path, size: (u32, u32)) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        text.len() > 2000,
        "{}: only {} bytes",
        path.display(),
        text.len()
    );
    let doc = resvg::usvg::roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{} is not well-formed XML: {e}", path.display()));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg", "{}", path.display());
    assert_eq!(
        root.attribute("width"),
        Some(size.0.to_string().as_str()),
        "{}",
        path.display()
    );
    assert_eq!(
        root.attribute("height"),
        Some(size.1.to_string().as_str()),
        "{}",
        path.display()
    );
    let texts = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "text")
        .count();
    assert!(texts > 10, "{}: only {texts} text elements", path.display());
}

/// Width and height from a PNG header (IHDR: bytes 16..24).
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.len() > 24, "{}: too short for a PNG", path.display());
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{}: not a PNG",
        path.display()
    );
    assert_eq!(&bytes[12..16], b"IHDR", "{}", path.display());
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    (be(16), be(20))
}

/// Checks a plot's SVG, and its PNG when fonts exist (else that it is absent).
fn assert_plot(dir: &Path, stem: &str, size: (u32, u32), fonts: bool) {
    assert_valid_svg(&dir.join(format!("{stem}.svg")), size);
    let png = dir.join(format!("{stem}.png"));
    if fonts {
        assert_eq!(png_size(&png), size, "{}", png.display());
    } else {
        assert!(!png.exists(), "{} written without a font", png.display());
    }
}

fn fonts_available() -> bool {
    PngRenderer::from_system().is_ok()
}

#[test]
fn the_saturation_sweep_finds_the_knee_at_c_and_the_plateau_at_c_over_d() {
    let _alone = util::alone();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let options = RunOptions {
        scenario: util::scenarios_dir().join("saturation-sweep.yaml"),
        // The shipped sweep's top points (5000 req/s through a debug build)
        // measure the machine as much as the server, which only a benchmark
        // may do. A slower server keeps the client idle at every point, so
        // the knee and plateau are the server's even on a busy 2-core
        // machine: D = 100 ms, C = 20, C/D = 200 req/s, 1 s per point.
        overrides: vec![
            "server.delay=100ms".into(),
            "server.capacity=20".into(),
            "cases.tasks.tasks=[1, 5, 10, 20, 40, 80, 160]".into(),
            "cases.tasks.duration=1s".into(),
        ],
        out: Some(out.clone()),
        quiet: true,
        repeat: 1,
        ..RunOptions::default()
    };
    let ran = run(&options).expect("the sweep runs");
    util::assert_accounted(&ran.results);
    let report = report::generate(&out).expect("report");
    let mut text = report.render();
    for r in &ran.results {
        let p50 = r.latency.map_or(0.0, |l| l.p50 as f64 / 1e3);
        text.push_str(&format!(
            "  {:<12} {:>8.1} req/s  p50 {p50:.1} ms\n",
            r.case, r.throughput
        ));
    }
    eprintln!("{text}");
    let sweep = report
        .sweeps
        .iter()
        .find(|s| s.base_case == "tasks")
        .unwrap_or_else(|| panic!("no sweep:\n{text}"));
    assert!(sweep.knee.is_ok(), "{text}");
    let model = sweep.model.expect("the embedded server has a model");
    assert_eq!(
        (model.capacity, model.saturation),
        (Some(20.0), Some(200.0)),
        "{text}"
    );
    let knee = sweep.knee_vs_model.expect("knee against C");
    assert!(
        knee.within(0.20),
        "knee {} vs C = {}:\n{text}",
        knee.measured,
        knee.model
    );
    let plateau = sweep.plateau_vs_model.expect("plateau against C/D");
    assert!(
        plateau.within(0.10),
        "plateau {:.0} vs C/D = {:.0}:\n{text}",
        plateau.measured,
        plateau.model
    );
    assert!(text.starts_with("sweep tasks: knee at "), "{text}");
    let fonts = fonts_available();
    assert_plot(&out, "saturation", plot::SATURATION_SIZE, fonts);
    assert_plot(&out, "latency-percentiles", plot::PERCENTILES_SIZE, fonts);
    assert!(
        !out.join("timeline.svg").exists(),
        "1 s closed-loop cases get no timeline"
    );
    let written: Vec<String> = report
        .plots
        .iter()
        .filter_map(|p| Some(p.file_name()?.to_str()?.to_string()))
        .collect();
    assert_eq!(written.len(), if fonts { 4 } else { 2 }, "{written:?}");
}

/// A results folder written by hand: a closed-loop sweep against C = 8,
/// D = 10 ms, and one long open-loop case.
struct Synthetic {
    dir: tempfile::TempDir,
}

impl Synthetic {
    fn new() -> Synthetic {
        let dir = tempfile::tempdir().expect("temp dir");
        let synthetic = Synthetic { dir };
        let mut rows = Vec::new();
        for n in [1u32, 2, 4, 8, 16, 32, 64] {
            let model = f64::from(n.min(8)) / 0.010;
            let latency_us = 10_000.0 * f64::from(n.max(8)) / 8.0;
            let measured = model * 0.95;
            let case = format!("tasks-{n}");
            rows.push(vec![
                ("case", case.clone()),
                ("base_case", "tasks".into()),
                ("executor", "tasks".into()),
                ("concurrency", n.to_string()),
                ("wall_seconds", "1.000000".into()),
                ("throughput", format!("{measured:.3}")),
                ("lat_p50_us", format!("{:.0}", latency_us * 1.05)),
                ("lat_p99_us", format!("{:.0}", latency_us * 1.3)),
                ("model_throughput", format!("{model:.3}")),
                ("model_latency_us", format!("{latency_us:.0}")),
            ]);
            synthetic.hgrm(&case, latency_us as u64);
        }
        rows.push(vec![
            ("case", "steady".into()),
            ("base_case", "steady".into()),
            ("executor", "rate".into()),
            ("target_rate", "500.000".into()),
            ("wall_seconds", "6.500000".into()),
            ("throughput", "498.000".into()),
            ("lat_p50_us", "10100".into()),
            ("lat_p99_us", "12000".into()),
        ]);
        synthetic.hgrm("steady", 10_000);
        let timeline: String = (0..7)
            .map(|s| {
                format!(
                    "{s},{},0,10100,{},13000\n",
                    if s < 6 { 500 } else { 250 },
                    11_000 + s * 100
                )
            })
            .collect();
        synthetic.write(
            "steady.timeline.csv",
            &format!("second,ok,errors,p50_us,p99_us,max_us\n{timeline}"),
        );
        synthetic.write("summary.csv", &summary_csv(&rows));
        synthetic.write("run.json", r#"{"scenario": "synthetic"}"#);
        synthetic
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path().join(name), text).expect("write");
    }

    /// A `.hgrm` of latencies spread from `base` µs to 1.5 times it.
    fn hgrm(&self, case: &str, base: u64) {
        let mut h = load_client::recorder::new_histogram();
        for i in 0..1000u64 {
            h.record(base + base * i / 2000).expect("record");
        }
        self.write(
            &format!("{case}.hgrm"),
            &load_client::results::hgrm::hgrm(&h),
        );
    }
}

/// `summary.csv` text with the current header; cells not given are empty.
fn summary_csv(rows: &[Vec<(&str, String)>]) -> String {
    let header = csv_header();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&header).expect("header");
    for cells in rows {
        let record: Vec<String> = header
            .iter()
            .map(|column| match column.as_str() {
                "schema_version" => SCHEMA_VERSION.to_string(),
                "scenario" => "synthetic".to_string(),
                "repetition" => "1".to_string(),
                "requests" | "ok" | "errors" => "0".to_string(),
                other => cells
                    .iter()
                    .find(|(c, _)| *c == other)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
            })
            .collect();
        w.write_record(&record).expect("record");
    }
    String::from_utf8(w.into_inner().expect("flush")).expect("utf-8")
}

#[test]
fn a_hand_written_folder_gives_knee_lines_and_three_plots() {
    let s = Synthetic::new();
    let report = report::generate(s.path()).expect("report");
    let text = report.render();
    let lines: String = text
        .lines()
        .filter(|l| l.starts_with("sweep"))
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!("synthetic_sweep_lines", lines);
    assert_eq!(
        report.sweeps[0].model.map(|m| m.source),
        Some(ModelSource::Summary)
    );
    let fonts = fonts_available();
    assert_plot(s.path(), "saturation", plot::SATURATION_SIZE, fonts);
    assert_plot(
        s.path(),
        "latency-percentiles",
        plot::PERCENTILES_SIZE,
        fonts,
    );
    assert_plot(s.path(), "timeline", plot::TIMELINE_SIZE, fonts);
    let unexpected: Vec<&String> = report
        .warnings
        .iter()
        .filter(|w| !w.starts_with("PNG copies skipped"))
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
    let leftovers: Vec<_> = std::fs::read_dir(s.path())
        .expect("list")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn run_json_model_parameters_win_and_missing_files_are_warnings() {
    let s = Synthetic::new();
    s.write(
        "run.json",
        r#"{"scenario": "synthetic", "model": {"delay_us": 10000, "capacity": 8, "queue": 100}}"#,
    );
    std::fs::remove_file(s.path().join("tasks-4.hgrm")).expect("remove");
    let report = report::generate(s.path()).expect("report");
    let model = report.sweeps[0].model.expect("model");
    assert_eq!(
        (model.source, model.capacity, model.saturation),
        (ModelSource::RunJson, Some(8.0), Some(800.0))
    );
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.starts_with("tasks-4.hgrm: cannot read")),
        "{:?}",
        report.warnings
    );
    assert!(s.path().join("latency-percentiles.svg").exists());
}

#[test]
fn incomplete_folders_are_refused() {
    let s = Synthetic::new();
    std::fs::remove_file(s.path().join("run.json")).expect("remove");
    let err = report::generate(s.path()).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "{}: incomplete results folder: no run.json beside summary.csv; ",
            s.path().display()
        )),
        "{err}"
    );
    assert!(
        !s.path().join("saturation.svg").exists(),
        "plots drawn anyway"
    );

    let s = Synthetic::new();
    s.write(".tasks-1.hgrm.tmp-99", "");
    let err = report::generate(s.path()).unwrap_err().to_string();
    assert!(
        err.contains("incomplete results folder: stray temporary files .tasks-1.hgrm.tmp-99; "),
        "{err}"
    );

    // The binary exits 2 with the message.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_load-client"))
        .arg("report")
        .arg(s.path())
        .output()
        .expect("run load-client");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("incomplete results folder"),
        "{output:?}"
    );
}

#[test]
fn unreadable_folders_are_errors_that_say_where() {
    let dir = tempfile::tempdir().expect("temp dir");
    let err = report::generate(dir.path()).unwrap_err().to_string();
    assert!(
        err.ends_with(
            "no summary.csv in this folder; expected a results folder written by `load-client run`"
        ),
        "{err}"
    );
    let rows = vec![vec![
        ("case", "a".to_string()),
        ("concurrency", "lots".to_string()),
    ]];
    std::fs::write(dir.path().join("summary.csv"), summary_csv(&rows)).expect("write");
    let err = report::generate(dir.path()).unwrap_err().to_string();
    assert!(err.ends_with("summary.csv: line 2, column \"concurrency\": \"lots\" is not a non-negative number or empty"), "{err}");
}

/// The embedded server's phases are timed from each case's start, copied
/// into `run.json` per case, and drawn on the timeline as labelled lines.
#[test]
fn server_phases_go_to_run_json_and_the_timeline() {
    let _alone = util::alone();
    let fixture = util::Fixture::new(
        "name: phases\nserver:\n  delay: 10ms\n  capacity: 10\n  schedule:\n    - {at: 600ms, set: {capacity: 5}}\n\
         request: {path: /}\ncases:\n  - {name: a, executor: rate, rate: 100/s, duration: 1200ms}\n  - {name: b, executor: rate, rate: 100/s, duration: 1200ms}\n",
    );
    fixture.run().expect("run");
    let out = fixture.out();
    let info = load_client::results::run_json::RunInfo::read(&out.join("run.json")).unwrap();
    let cases: Vec<&str> = info.phases.iter().map(|p| p.case.as_str()).collect();
    assert_eq!(cases, ["a", "b"], "each case restarts the schedule");
    for case in &info.phases {
        assert_eq!(case.changes.len(), 1, "{case:?}");
        let at = case.changes[0].at_seconds;
        assert!((0.6..0.7).contains(&at), "{}: applied at {at} s", case.case);
        assert_eq!(case.changes[0].label(), "capacity 5");
    }
    report::generate(&out).expect("report");
    let svg = std::fs::read_to_string(out.join("timeline.svg")).unwrap();
    assert!(
        svg.contains("capacity 5"),
        "the phase is labelled on the timeline"
    );
    assert!(svg.contains("server phase change"));
}
