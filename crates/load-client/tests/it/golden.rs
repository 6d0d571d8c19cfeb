//! Byte-identity of the results folder: a fixed set of in-memory results
//! (a sweep with a repetition, an open-loop case with service latency,
//! embedded-server cases with the server's view and the model's
//! expectation, errors by kind, statuses, an interrupted case with a
//! two-entry request mix and its per-entry histograms, a case with
//! no success) is written as a results folder, and every file must equal,
//! byte for byte, the committed copy in `tests/data/golden/`.
//!
//! The fixture fixes everything that would otherwise depend on the clock or
//! the machine (start times, git revision, cores). Only the tool version in
//! `summary.csv` is masked, so a version bump does not break the test.
//!
//! To regenerate the copy after an intended format change (which also
//! bumps `SCHEMA_VERSION` or the `.hlog` version): `GOLDEN_BLESS=1 cargo
//! test -p load-client --test golden`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use load_client::checks::Verdict;
use load_client::outcome::{ErrorCounts, ErrorKind};
use load_client::recorder::Recorder;
use load_client::results::files::{
    self, CaseData as Recorded, Encoded, RequestData, RunJson, Summary, SummaryJsonFile, Writer,
};
use load_client::results::run_json::{ModelParams, RequestInfo, RunInfo, TlsInfo};
use load_client::results::summary_json::SummaryJson;
use load_client::results::{CaseResult, Expectation, Latency, PhaseTimes, ServerView};

/// What one case recorded, beside its result row.
struct CaseData {
    result: CaseResult,
    recorder: Recorder,
    started_at: SystemTime,
}

/// Latencies from a fixed linear congruential sequence: `n` values spread
/// over `lo..lo + spread` µs.
fn latencies(seed: u64, n: usize, lo: u64, spread: u64) -> Vec<u64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            lo + (x >> 33) % spread
        })
        .collect()
}

/// A recorder with `ok` successes over `seconds` seconds and `failed`
/// failures spread over the same seconds.
fn recorder(seed: u64, ok: usize, failed: u64, seconds: u64, lo: u64, spread: u64) -> Recorder {
    let mut r = Recorder::default();
    for (i, us) in latencies(seed, ok, lo, spread).into_iter().enumerate() {
        r.ok.record(us).expect("in range");
        r.timeline.record(i as u64 % seconds, Some(us));
    }
    for i in 0..failed {
        r.failed.record(1_000 + i).expect("in range");
        r.timeline.record(i % seconds, None);
    }
    r
}

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// A closed-loop case of the `tasks` sweep against the embedded server.
fn sweep_case(n: u64, repetition: u32, seed: u64) -> CaseData {
    let ok = 40 * n as usize;
    let recorder = recorder(seed, ok, 0, 2, 20_000, 1_000 * n);
    let latency = Latency::of(&recorder.ok);
    let model_throughput = (n.min(10) as f64) / 0.02;
    CaseData {
        result: CaseResult {
            scenario: "golden".into(),
            case: format!("tasks-{n}"),
            base_case: "tasks".into(),
            repetition,
            executor: "tasks".into(),
            runtime: "multi_thread".into(),
            connection: "reuse".into(),
            protocol: "http1".into(),
            streams_per_connection: 1,
            concurrency: Some(n),
            target_rate: None,
            requests: ok as u64,
            ok: ok as u64,
            errors: ErrorCounts::default(),
            statuses: BTreeMap::from([(200, ok as u64)]),
            wall_seconds: 2.0 + n as f64 / 1_000.0 + f64::from(repetition) / 7.0,
            throughput: ok as f64 / 2.0123,
            achieved_rate: ok as f64 / 2.0123,
            late_sends: 0,
            skipped_sends: 0,
            connect_backoffs: 0,
            phases: Default::default(),
            first_error: None,
            latency,
            service: None,
            server: Some(ServerView {
                received: ok as u64,
                peak_in_service: n.min(10),
                peak_queued: n.saturating_sub(10),
                rejected: 0,
                dropped: 0,
                timed_out: 0,
                connections: 3,
            }),
            model: Some(Expectation {
                throughput: model_throughput,
                latency: Duration::from_micros(20_000 * n.max(10) / 10),
                wall: Some(Duration::from_micros(2_000_000 + 333 * n)),
                utilisation: None,
            }),
            interrupted: false,
            request: String::new(),
            parts: Vec::new(),
        },
        recorder,
        started_at: at(1_764_000_000_000 + 3_000 * n + u64::from(repetition)),
    }
}

/// An open-loop case: service latency, late and skipped sends, 503s and
/// timeouts, the model's utilisation.
fn rate_case() -> CaseData {
    let mut recorder = recorder(7, 1_400, 0, 3, 19_000, 9_000);
    for us in latencies(8, 1_400, 18_500, 3_000) {
        recorder.service.record(us).expect("in range");
    }
    for i in 0..25u64 {
        recorder.failed.record(30_000 + i).expect("in range");
        recorder.timeline.record(i % 3, None);
    }
    let mut errors = ErrorCounts::default();
    errors.add_many(ErrorKind::Http5xx, 20);
    errors.add_many(ErrorKind::RequestTimeout, 3);
    errors.add_many(ErrorKind::Aborted, 2);
    CaseData {
        result: CaseResult {
            scenario: "golden".into(),
            case: "open-500".into(),
            base_case: "open".into(),
            repetition: 1,
            executor: "rate".into(),
            runtime: "current_thread".into(),
            connection: "per_request".into(),
            protocol: "http2".into(),
            streams_per_connection: 1,
            concurrency: None,
            target_rate: Some(500.0),
            requests: 1_425,
            ok: 1_400,
            latency: Latency::of(&recorder.ok),
            service: Latency::of(&recorder.service),
            errors,
            statuses: BTreeMap::from([(200, 1_400), (503, 20)]),
            wall_seconds: 2.851_234_5,
            throughput: 1_400.0 / 2.851_234_5,
            achieved_rate: 1_425.0 / 2.851_234_5,
            late_sends: 17,
            skipped_sends: 4,
            connect_backoffs: 0,
            phases: Default::default(),
            first_error: None,
            server: Some(ServerView {
                received: 1_423,
                peak_in_service: 10,
                peak_queued: 31,
                rejected: 0,
                dropped: 1,
                timed_out: 20,
                connections: 4,
            }),
            model: Some(Expectation {
                throughput: 500.0,
                latency: Duration::from_millis(20),
                wall: None,
                utilisation: Some(0.2),
            }),
            interrupted: false,
            request: String::new(),
            parts: Vec::new(),
        },
        recorder,
        started_at: at(1_764_000_100_500),
    }
}

/// A case against an external target that was interrupted: many error
/// kinds, odd statuses, connect back-offs, no server view, no model.
fn interrupted_case() -> CaseData {
    let mut data = interrupted_total();
    // A request mix: one row per entry after the total, each with its own
    // histogram (the total's 90 successes: 60 `login`, 30 `home`).
    let (login, home) = {
        let all = latencies(11, 90, 150, 5_000);
        let (login, home) = all.split_at(60);
        (login.to_vec(), home.to_vec())
    };
    for (index, values) in [login, home].iter().enumerate() {
        for &us in values {
            data.recorder
                .request(index)
                .ok
                .record(us)
                .expect("in range");
        }
    }
    let latency = |index: usize| Latency::of(&data.recorder.by_request[index].ok);
    let (login, home) = (latency(0), latency(1));
    let total = data.result.clone();
    let part = |name: &str, requests: u64, ok: u64, status: u16, latency| {
        let mut errors = ErrorCounts::default();
        errors.add_many(ErrorKind::Reset, requests - ok);
        CaseResult {
            request: name.into(),
            requests,
            ok,
            errors,
            statuses: BTreeMap::from([(status, ok)]),
            throughput: ok as f64 / total.wall_seconds,
            achieved_rate: requests as f64 / total.wall_seconds,
            connect_backoffs: 0,
            latency,
            ..total.clone()
        }
    };
    data.result.parts = vec![
        part("login", 80, 60, 200, login),
        part("home", 40, 30, 204, home),
    ];
    data
}

/// The total of [`interrupted_case`].
fn interrupted_total() -> CaseData {
    let recorder = recorder(11, 90, 30, 1, 150, 5_000);
    let mut errors = ErrorCounts::default();
    errors.add_many(ErrorKind::ConnectRefused, 5);
    errors.add_many(ErrorKind::ConnectTimeout, 1);
    errors.add_many(ErrorKind::Reset, 4);
    errors.add_many(ErrorKind::TooManyOpenFiles, 2);
    errors.add_many(ErrorKind::PortsExhausted, 3);
    errors.add_many(ErrorKind::Http4xx, 7);
    errors.add_many(ErrorKind::InvalidResponse, 1);
    errors.add_many(ErrorKind::Aborted, 6);
    errors.add_many(ErrorKind::Other, 1);
    CaseData {
        result: CaseResult {
            scenario: "golden".into(),
            case: "external".into(),
            base_case: "external".into(),
            repetition: 1,
            executor: "sequential".into(),
            runtime: "blocking".into(),
            connection: "per_request".into(),
            protocol: "http1".into(),
            streams_per_connection: 1,
            concurrency: Some(1),
            target_rate: None,
            requests: 120,
            ok: 90,
            errors,
            statuses: BTreeMap::from([(200, 88), (204, 2), (404, 4), (429, 3)]),
            wall_seconds: 0.75,
            throughput: 120.0,
            achieved_rate: 153.333_333,
            late_sends: 0,
            skipped_sends: 0,
            connect_backoffs: 9,
            phases: PhaseTimes {
                connections_opened: 120,
                connect: Some(Latency {
                    p50: 81,
                    p99: 403,
                    ..Latency::default()
                }),
                tls: Some(Latency {
                    p50: 1_503,
                    p99: 3_207,
                    ..Latency::default()
                }),
                ttfb: Some(Latency {
                    p50: 4_001,
                    p99: 9_011,
                    ..Latency::default()
                }),
                body: Some(Latency {
                    p50: 31,
                    p99: 211,
                    ..Latency::default()
                }),
            },
            first_error: None,
            latency: Latency::of(&recorder.ok),
            service: None,
            server: None,
            model: None,
            interrupted: true,
            request: String::new(),
            parts: Vec::new(),
        },
        recorder,
        started_at: at(1_764_000_200_999),
    }
}

/// Nothing succeeded, against an embedded server with zero delay (the
/// model's throughput is infinite and its wall time unknown).
fn failed_case() -> CaseData {
    let recorder = recorder(13, 0, 12, 2, 1, 1);
    let mut errors = ErrorCounts::default();
    errors.add_many(ErrorKind::Http5xx, 12);
    CaseData {
        result: CaseResult {
            scenario: "golden".into(),
            case: "burst".into(),
            base_case: "burst".into(),
            repetition: 1,
            executor: "unbounded".into(),
            runtime: "multi_thread".into(),
            connection: "reuse".into(),
            protocol: "http2".into(),
            streams_per_connection: 4,
            concurrency: Some(12),
            target_rate: None,
            requests: 12,
            ok: 0,
            errors,
            statuses: BTreeMap::from([(503, 12)]),
            wall_seconds: 0.001_5,
            throughput: 0.0,
            achieved_rate: 8_000.0,
            late_sends: 0,
            skipped_sends: 0,
            connect_backoffs: 0,
            phases: Default::default(),
            first_error: None,
            latency: None,
            service: None,
            server: Some(ServerView {
                received: 12,
                peak_in_service: 2,
                peak_queued: 0,
                rejected: 10,
                dropped: 0,
                timed_out: 0,
                connections: 5,
            }),
            model: Some(Expectation {
                throughput: f64::INFINITY,
                latency: Duration::ZERO,
                wall: None,
                utilisation: None,
            }),
            interrupted: true,
            request: String::new(),
            parts: Vec::new(),
        },
        recorder,
        started_at: at(1_764_000_300_000),
    }
}

fn cases() -> Vec<CaseData> {
    vec![
        sweep_case(1, 1, 1),
        sweep_case(10, 1, 2),
        sweep_case(10, 2, 3),
        sweep_case(100, 1, 4),
        rate_case(),
        interrupted_case(),
        failed_case(),
    ]
}

fn verdicts() -> Vec<Verdict> {
    vec![
        Verdict {
            case: "tasks-1".into(),
            repetition: 1,
            expr: "p99 < 250ms".into(),
            passed: true,
            actual: "20.9ms".into(),
            threshold: "250ms".into(),
        },
        Verdict {
            case: "open-500".into(),
            repetition: 1,
            expr: "error_rate <= 1%".into(),
            passed: false,
            actual: "1.75%".into(),
            threshold: "1%".into(),
        },
    ]
}

fn run_info(results: &[CaseResult]) -> RunInfo {
    RunInfo {
        tool_version: "0.0.0-golden".into(),
        git_revision: Some("0123456789ab".into()),
        cores: 2,
        scenario: "golden".into(),
        scenario_file: "scenarios/golden.yaml".into(),
        scenario_sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        overrides: vec![
            "cases.tasks.tasks=[1,10,100]".into(),
            "request.headers.authorization=<redacted>".into(),
        ],
        target: "embedded".into(),
        tls: Some(TlsInfo {
            insecure: true,
            server_name: Some("api.example".into()),
            ca: None,
            client_cert: Some("certs/client.pem".into()),
        }),
        request: RequestInfo {
            method: "POST".into(),
            path: "/work?token=<redacted>&n=1".into(),
            headers: vec![
                ("authorization".into(), "<redacted>".into()),
                ("accept".into(), "*/*".into()),
            ],
            body_bytes: 17,
        },
        started_at: "2025-11-24T16:00:00Z".into(),
        interrupted: true,
        cases: results.iter().map(|r| r.case.clone()).collect(),
        model: Some(ModelParams {
            delay_us: 20_000,
            capacity: Some(10),
            queue: 1_000,
        }),
        searches: Vec::new(),
        phases: Vec::new(),
        ..RunInfo::default()
    }
}

/// Writes the folder with the load client's writers, as `run` does.
fn write_folder(dir: &Path, cases: &[CaseData]) {
    let mut case_files = Vec::new();
    for c in cases {
        let requests: Vec<RequestData<'_>> = c
            .result
            .parts
            .iter()
            .zip(&c.recorder.by_request)
            .map(|(part, r)| RequestData {
                name: &part.request,
                ok: &r.ok,
            })
            .collect();
        case_files.extend(
            files::case_files(&Recorded {
                case: &c.result.case,
                repetition: c.result.repetition,
                ok: &c.recorder.ok,
                timeline: &c.recorder.timeline,
                started_at: c.started_at,
                requests: &requests,
            })
            .expect("encode"),
        );
    }
    let results: Vec<CaseResult> = cases.iter().map(|c| c.result.clone()).collect();
    let summary = Summary(&results);
    let checks = Encoded {
        name: files::CHECKS.into(),
        bytes: load_client::checks::checks_csv(&verdicts()),
    };
    let info = run_info(&results);
    let verdicts = verdicts();
    let summary_json = SummaryJsonFile(SummaryJson {
        info: &info,
        results: &results,
        verdicts: &verdicts,
        knees: load_client::report::knee_records(&load_client::report::sweeps_of(
            &results, info.model,
        )),
    });
    let checks_xml = Encoded {
        name: files::CHECKS_XML.into(),
        bytes: load_client::results::junit::checks_xml(&info.scenario, &verdicts),
    };
    let mut writers: Vec<&dyn Writer> = case_files.iter().map(|f| f as &dyn Writer).collect();
    writers.extend([&summary as &dyn Writer, &summary_json, &checks, &checks_xml]);
    load_client::run::write_files(dir, &writers, &RunJson(&info)).expect("write");
}

/// The files of a folder, sorted by name, with the tool version in
/// `summary.csv` masked.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let mut bytes = std::fs::read(entry.path()).expect("read");
        if name == "summary.csv" {
            let text = String::from_utf8(bytes).expect("utf-8");
            let suffix = format!(",{}", load_client::VERSION);
            let masked: Vec<String> = text
                .lines()
                .map(|l| match l.strip_suffix(&suffix) {
                    Some(rest) => format!("{rest},@VERSION@"),
                    None => l.to_string(),
                })
                .collect();
            bytes = format!("{}\n", masked.join("\n")).into_bytes();
        }
        if name == "summary.json" {
            let text = String::from_utf8(bytes).expect("utf-8");
            let version = format!("\"tool_version\": \"{}\"", load_client::VERSION);
            bytes = text
                .replace(&version, "\"tool_version\": \"@VERSION@\"")
                .into_bytes();
        }
        out.insert(name, bytes);
    }
    out
}

/// The golden folder, for other tests (its `summary.json` is validated
/// against the schema).
pub fn golden_dir_path() -> PathBuf {
    golden_dir()
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden")
}

#[test]
fn the_results_folder_is_byte_identical_to_the_golden_copy() {
    let out = tempfile::tempdir().expect("temp dir");
    write_folder(out.path(), &cases());
    let written = files(out.path());
    let golden = golden_dir();
    if std::env::var_os("GOLDEN_BLESS").is_some() {
        std::fs::create_dir_all(&golden).expect("create golden");
        for (name, bytes) in &written {
            std::fs::write(golden.join(name), bytes).expect("write golden");
        }
    }
    let expected = files(&golden);
    assert_eq!(
        written.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the folder's file names"
    );
    assert!(written.len() >= 30, "{} files", written.len());
    for (name, bytes) in &written {
        let want = &expected[name];
        if bytes != want {
            let line = bytes
                .split(|b| *b == b'\n')
                .zip(want.split(|b| *b == b'\n'))
                .position(|(a, b)| a != b)
                .map_or(0, |i| i + 1);
            panic!(
                "{name} differs from the golden copy (first at line {line}):\n--- written\n{}\n--- golden\n{}",
                String::from_utf8_lossy(bytes),
                String::from_utf8_lossy(want)
            );
        }
    }
}
