//! End to end: run part of `scenarios/ci-smoke.yaml` twice against the
//! same server and once against a server with twice the delay, and check
//! that `compare` calls only the slower one a regression.

mod util;

use load_client::compare::{self, Tolerances};
use load_client::run::{run, RunOptions};

fn smoke(out: &std::path::Path, overrides: &[&str]) -> std::path::PathBuf {
    let options = RunOptions {
        scenario: util::scenarios_dir().join("ci-smoke.yaml"),
        overrides: overrides.iter().map(|s| s.to_string()).collect(),
        only: vec!["single-task".into(), "tasks-10".into(), "unbounded".into()],
        out: Some(out.to_path_buf()),
        quiet: true,
        allow_remote: false,
        repeat: 1,
    };
    let report = run(&options).expect("ci-smoke runs");
    util::assert_accounted(&report.results);
    assert!(
        !report.checks_failed(),
        "checks failed: {:?}",
        report.verdicts
    );
    out.to_path_buf()
}

#[test]
fn compare_flags_a_doubled_delay_and_passes_an_unchanged_server() {
    let dir = tempfile::tempdir().unwrap();
    let base = smoke(&dir.path().join("base"), &[]);
    let same = smoke(&dir.path().join("same"), &[]);
    let slower = smoke(&dir.path().join("slower"), &["server.delay=40ms"]);
    let tolerances = Tolerances::default();
    let load = |p: &std::path::Path| compare::load_summary(p).unwrap();

    let unchanged = compare::compare(&load(&base), &load(&same), &tolerances);
    assert!(
        !unchanged.has_regression(),
        "{}",
        compare::render(&unchanged, compare::Format::Table)
    );

    let regressed = compare::compare(&load(&base), &load(&slower), &tolerances);
    assert!(regressed.has_regression());
    let markdown = compare::render(&regressed, compare::Format::Markdown);
    assert!(markdown.contains("**regressed**"), "{markdown}");

    // The binary gives the same verdicts as exit codes.
    let exe = env!("CARGO_BIN_EXE_load-client");
    let code = |a: &std::path::Path, b: &std::path::Path| {
        std::process::Command::new(exe)
            .arg("compare")
            .args([a, b])
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(code(&base, &same), Some(0));
    assert_eq!(code(&base, &slower), Some(1));
}
