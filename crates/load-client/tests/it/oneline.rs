//! The one-line mode through the binary: `run --url …` against a mock
//! server started in the test, `--print-scenario` round-tripped through a
//! file, conflicting flags refused with exit 2, credentials kept out of the
//! results folder.

use std::path::Path;
use std::process::{Command, Output};

use load_client::results::run_json::RunInfo;
use load_client::results::summary::{read_results, SummaryNeeds};
use load_client::results::CaseResult;
use mock_server::{EmbeddedServer, ServerConfig};

use crate::util::assert_accounted;

pub fn server(yaml: &str) -> EmbeddedServer {
    let config: ServerConfig = serde_yaml::from_str(yaml).unwrap();
    EmbeddedServer::start(config.validate().unwrap(), 1).unwrap()
}

pub fn load_client(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_load-client"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the binary and insists on exit 0.
pub fn ok(args: &[&str]) -> Output {
    let out = load_client(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "load-client {args:?}\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

pub fn summary(dir: &Path) -> Vec<CaseResult> {
    let path = dir.join("summary.csv");
    let bytes = std::fs::read(&path).unwrap();
    let needs = SummaryNeeds {
        columns: &[],
        needed_by: "the test",
        on_other_version: "",
    };
    read_results(&path, &bytes, needs).unwrap()
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// What must agree between a one-liner's run and its printed scenario's:
/// everything but what was measured (counts too, for a count-bounded case).
fn layout(r: &CaseResult, counts: bool) -> String {
    let counts = if counts {
        format!("{} {}", r.requests, r.ok)
    } else {
        String::new()
    };
    format!(
        "{} {} {} {} {} {} {} {:?} {:?} {counts}",
        r.scenario,
        r.case,
        r.base_case,
        r.repetition,
        r.executor,
        r.runtime,
        r.connection,
        r.concurrency,
        r.target_rate,
    )
}

/// Prints the scenario of `flags`, runs the one-liner and the printed file
/// into two folders, and checks they ran the same cases into the same
/// layout from the same scenario text (with the same request and error
/// counts when `counts`). Returns the two runs' results and `run.json`s.
pub fn round_trip(
    dir: &Path,
    url: &str,
    flags: &[&str],
    counts: bool,
) -> ([Vec<CaseResult>; 2], [RunInfo; 2]) {
    let mut print = vec!["run", "--url", url, "--print-scenario"];
    print.extend(flags);
    let printed = ok(&print);
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("printed.yaml");
    std::fs::write(&file, &printed.stdout).unwrap();
    let (one, two) = (dir.join("one-line"), dir.join("file"));
    let mut run = vec![
        "run",
        "--quiet",
        "--url",
        url,
        "--out",
        one.to_str().unwrap(),
    ];
    run.extend(flags);
    ok(&run);
    ok(&[
        "run",
        "--quiet",
        file.to_str().unwrap(),
        "--out",
        two.to_str().unwrap(),
    ]);
    let (a, b) = (summary(&one), summary(&two));
    assert_accounted(&a);
    assert_accounted(&b);
    assert_eq!(
        a.iter().map(|r| layout(r, counts)).collect::<Vec<_>>(),
        b.iter().map(|r| layout(r, counts)).collect::<Vec<_>>()
    );
    assert_eq!(file_names(&one), file_names(&two));
    let (info_a, info_b) = (
        RunInfo::read(&one.join("run.json")).unwrap(),
        RunInfo::read(&two.join("run.json")).unwrap(),
    );
    assert_eq!(info_a.scenario_sha256, info_b.scenario_sha256, "same text");
    assert_eq!(info_a.scenario_file, "<command line>");
    assert_eq!(info_a.request, info_b.request);
    ([a, b], [info_a, info_b])
}

#[test]
fn a_one_liner_runs_end_to_end() {
    let server = server("listen: 127.0.0.1:0\ndelay: 2ms\n");
    let url = format!("http://{}/items?page=2", server.addr());
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = ok(&[
        "run",
        "--url",
        &url,
        "-n",
        "100",
        "-c",
        "4",
        "-H",
        "Authorization: Bearer hunter2",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains(&format!("target  {url}")), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("tasks ")), "{stdout}");
    let results = summary(&out_dir);
    assert_accounted(&results);
    assert_eq!(results.len(), 1);
    let r = &results[0];
    assert_eq!((r.scenario.as_str(), r.case.as_str()), ("oneline", "tasks"));
    assert_eq!((r.requests, r.ok, r.concurrency), (100, 100, Some(4)));
    assert_eq!(server.stats().received, 100);
    // The credential reaches the server, not the folder or the terminal.
    for name in file_names(&out_dir) {
        let bytes = std::fs::read(out_dir.join(&name)).unwrap();
        assert!(!text(&bytes).contains("hunter2"), "{name} holds the token");
    }
    assert!(!stdout.contains("hunter2") && !text(&out.stderr).contains("hunter2"));
    let info = RunInfo::read(&out_dir.join("run.json")).unwrap();
    assert_eq!(info.request.path, "/items?page=2");
}

#[test]
fn print_scenario_round_trips() {
    let server = server("listen: 127.0.0.1:0\ndelay: 2ms\n");
    let url = format!("http://{}/", server.addr());
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body.txt");
    std::fs::write(&body, "line one\n\"quoted\": 'yes'\n").unwrap();
    let ([a, _], _) = round_trip(
        &dir.path().join("tasks"),
        &url,
        &[
            "-c",
            "3",
            "-n",
            "30",
            "-m",
            "POST",
            "-D",
            body.to_str().unwrap(),
            "-H",
            "X-Test: 1",
            "--disable-keepalive",
            "--warmup",
            "3",
        ],
        true,
    );
    assert_eq!(
        (a[0].requests, a[0].connection.as_str()),
        (30, "per_request")
    );
    let ([a, _], _) = round_trip(
        &dir.path().join("rate"),
        &url,
        &["-q", "60", "-n", "25", "-t", "5"],
        true,
    );
    assert_eq!((a[0].executor.as_str(), a[0].requests), ("rate", 25));
    // Each case ran twice (one-liner and file), printing ran nothing: 3
    // warm-up and 30 measured requests, then 25 at 60/s.
    assert_eq!(server.stats().received, 2 * (3 + 30) + 2 * 25);
}

#[test]
fn conflicting_flags_exit_2_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let scenario = crate::util::scenarios_dir().join("seed.yaml");
    let url = "http://127.0.0.1:9/";
    let cases: &[(&[&str], &[&str])] = &[
        (&["--url", url, "-n", "10", "-z", "1s"], &["-n", "-z"]),
        (&["--url", url, "-q", "100"], &["-q", "-z or -n"]),
        (
            &[scenario.to_str().unwrap(), "--url", url],
            &["seed.yaml", "--url"],
        ),
        (&[scenario.to_str().unwrap(), "-c", "5"], &["-c", "--url"]),
        (
            &[
                "--url",
                url,
                "--search-rate",
                "-n",
                "5",
                "--objective",
                "p99 < 1s",
            ],
            &["--search-rate", "-n"],
        ),
        (
            &["--url", url, "--objective", "p99 < 1s"],
            &["--objective", "--search-rate"],
        ),
        (&["--url", url, "-c", "0"], &["-c"]),
        (
            &[
                "--url",
                url,
                "--print-scenario",
                "--set",
                "cases.tasks.tasks=3",
            ],
            &["--print-scenario", "--set"],
        ),
    ];
    for (args, named) in cases {
        let mut argv = vec!["run", "--out", out_dir.to_str().unwrap()];
        argv.extend(*args);
        let out = load_client(&argv);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        for flag in *named {
            assert!(
                stderr.contains(flag),
                "{args:?}: {stderr:?} does not name {flag}"
            );
        }
        assert!(!out_dir.exists(), "{args:?} wrote results");
    }
}

#[test]
fn a_remote_one_liner_needs_allow_remote() {
    let out = load_client(&[
        "run",
        "--url",
        "http://192.0.2.1:8080/",
        "-n",
        "1",
        "-c",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--allow-remote"));
}
