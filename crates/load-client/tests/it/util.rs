//! Helpers for the load client's integration tests: scenario files in a
//! temporary folder, runs through the public entry point, and the
//! accounting check every test applies.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use load_client::results::CaseResult;
use load_client::run::{run, RunError, RunOptions, RunReport};

/// A scenario written to a fresh temporary folder, with an output folder beside it.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub scenario: PathBuf,
}

impl Fixture {
    pub fn new(yaml: &str) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let scenario = dir.path().join("scenario.yaml");
        std::fs::write(&scenario, yaml).expect("write scenario");
        Fixture { dir, scenario }
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    pub fn options(&self) -> RunOptions {
        RunOptions {
            scenario: self.scenario.clone(),
            out: Some(self.out()),
            quiet: true,
            repeat: 1,
            ..RunOptions::default()
        }
    }

    pub fn run(&self) -> Result<RunReport, RunError> {
        run(&self.options())
    }
}

/// Every request is accounted for: ok + errors of all kinds = sent.
pub fn assert_accounted(results: &[CaseResult]) {
    for r in results {
        assert_eq!(
            r.ok + r.errors.total(),
            r.requests,
            "case {}: ok {} + errors {} != requests {}",
            r.case,
            r.ok,
            r.errors.total(),
            r.requests
        );
    }
}

pub fn case<'a>(report: &'a RunReport, name: &str) -> &'a CaseResult {
    report
        .results
        .iter()
        .find(|r| r.case == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

pub fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

/// A TCP port on 127.0.0.1 with nothing listening on it.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

static ALONE: Mutex<()> = Mutex::new(());

/// Held for the whole of a test that compares timings between runs (a
/// baseline against a rerun) or against the model across a sweep, so two
/// such tests never share the machine. A panic in one does not poison it
/// for the others.
pub fn alone() -> MutexGuard<'static, ()> {
    ALONE.lock().unwrap_or_else(PoisonError::into_inner)
}
