//! Sharded runs end to end: N processes of the real binary, each told its
//! index through `JOB_COMPLETION_INDEX` as a Kubernetes pod would be, against
//! one mock server, then `merge`; and every refusal of `run --shard`,
//! `--start-at` and `merge` with its exit code and message.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use load_client::results::run_json::RunInfo;
use load_client::results::summary::{read_results, SummaryNeeds};
use load_client::results::CaseResult;

use crate::util::{alone, assert_accounted, closed_port};

const BIN: &str = env!("CARGO_BIN_EXE_load-client");

fn server(delay: &str) -> mock_server::EmbeddedServer {
    let settings = mock_server::ServerConfig {
        delay: Some(delay.parse().unwrap()),
        capacity: Some(10_000),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Default::default()
    }
    .validate()
    .unwrap();
    mock_server::EmbeddedServer::start(settings, 2).unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `load-client ARGS` with `JOB_COMPLETION_INDEX` set (or removed).
fn load_client(args: &[&str], index: Option<&str>) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("LOAD_CLIENT_LOG", "error");
    match index {
        Some(i) => cmd.env("JOB_COMPLETION_INDEX", i),
        None => cmd.env_remove("JOB_COMPLETION_INDEX"),
    };
    cmd
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `n` shards of `scenario` as `n` processes at once, sharing one
/// `--start-at`; returns their folders.
fn run_shards(scenario: &Path, dir: &Path, n: usize, extra: &[&str]) -> Vec<PathBuf> {
    let count = n.to_string();
    // One instant for all (`+2s` would be each process's own).
    let at = load_client::start_at::format_millis(
        std::time::SystemTime::now() + std::time::Duration::from_secs(2),
    );
    let children: Vec<(PathBuf, std::process::Child)> = (0..n)
        .map(|i| {
            let out = dir.join(format!("shard-{i}"));
            let mut args = vec![
                "run",
                scenario.to_str().unwrap(),
                "--quiet",
                "--shards",
                &count,
                "--start-at",
                &at,
                "--out",
                out.to_str().unwrap(),
            ];
            args.extend_from_slice(extra);
            let child = load_client(&args, Some(&i.to_string()))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            (out, child)
        })
        .collect();
    children
        .into_iter()
        .map(|(out, child)| {
            let done = child.wait_with_output().unwrap();
            assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
            out
        })
        .collect()
}

fn merge(dirs: &[PathBuf], out: &Path) -> Output {
    let mut args = vec!["merge".to_string()];
    args.extend(dirs.iter().map(|d| d.display().to_string()));
    args.extend(["--out".to_string(), out.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    load_client(&args, None).output().unwrap()
}

fn results(dir: &Path) -> Vec<CaseResult> {
    let path = dir.join("summary.csv");
    let needs = SummaryNeeds {
        columns: &[],
        needed_by: "test",
        on_other_version: "",
    };
    read_results(&path, &std::fs::read(&path).unwrap(), needs).unwrap()
}

fn row<'a>(rows: &'a [CaseResult], case: &str) -> &'a CaseResult {
    rows.iter().find(|r| r.case == case).unwrap()
}

/// Four shards (4 processes, each with its index in JOB_COMPLETION_INDEX)
/// against one server with D = 50 ms: the merged folder accounts for
/// exactly what the server received, holds exactly the one-machine schedule
/// and task counts, and its p50/p99 agree with one process running the
/// whole scenario. Bound: p50 within ±10 ms, p99 within ±100 ms (the
/// histograms' 0.1% is 50 µs here; the rest is noise of a busy 2-core
/// machine running 4 clients and the server: p99 of 400 requests is their
/// 4th slowest, which one scheduling stall of the shared machine moves by
/// tens of milliseconds; seen alone: 55-68 ms for either).
#[test]
fn four_shards_merge_into_what_one_process_measures() {
    let _alone = alone();
    let server = server("50ms");
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(
        dir.path(),
        "s.yaml",
        &format!(
            "url: http://{}/\ncases:\n\
             \x20 - {{name: open, executor: rate, rate: 200/s, duration: 2s}}\n\
             \x20 - {{name: closed, executor: tasks, tasks: [3, 8], requests_per_task: 5}}\n\
             \x20 - {{name: one, executor: single_task, requests: 3}}\n\
             \x20 - {{name: burst, executor: unbounded, requests: 30}}\n",
            server.addr()
        ),
    );
    let before = server.stats().received;
    let shards = run_shards(&scenario, dir.path(), 4, &[]);
    let received = server.stats().received - before;
    let merged_dir = dir.path().join("merged");
    let out = merge(&shards, &merged_dir);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let merged = results(&merged_dir);
    assert_accounted(&merged);
    let sent: u64 = merged.iter().map(|r| r.requests).sum();
    assert_eq!(sent, received, "merged requests against the server's count");
    let open = row(&merged, "open");
    assert_eq!(
        open.requests + open.skipped_sends,
        400,
        "the whole schedule"
    );
    assert_eq!(open.target_rate, Some(200.0));
    assert_eq!(row(&merged, "closed-3").requests, 15);
    assert_eq!(row(&merged, "closed-3").concurrency, Some(3));
    assert_eq!(row(&merged, "closed-8").requests, 40);
    assert_eq!(row(&merged, "one").requests, 3);
    assert_eq!(row(&merged, "burst").requests, 30);
    // 3 tasks over 4 shards cut at floor(i·3/4): shard 0 has none; `one`
    // is shard 0's alone. Those shards record empty cases.
    let first = results(&shards[0]);
    assert_eq!(row(&first, "closed-3").requests, 0);
    assert_eq!(row(&first, "closed-3").concurrency, Some(0));
    assert_eq!(row(&first, "one").requests, 3);
    let last = results(&shards[3]);
    assert_eq!(row(&last, "closed-3").requests, 5);
    assert_eq!(row(&last, "one").requests, 0);
    // Each shard recorded who it was and when it started: all at one instant.
    let first_info = RunInfo::read(&shards[0].join("run.json")).unwrap();
    for (i, shard) in shards.iter().enumerate() {
        let info = RunInfo::read(&shard.join("run.json")).unwrap();
        let s = info.shard.unwrap();
        assert_eq!((s.index, s.count), (i as u32, 4));
        assert!(info.start_at.is_some() && info.host.is_some(), "{info:?}");
        assert_eq!(info.start_at, first_info.start_at);
        let skew = info.start_skew_seconds.unwrap();
        assert!(
            skew < 0.5,
            "shard {i} was {skew}s late for a start 2 s ahead"
        );
    }
    let info = RunInfo::read(&merged_dir.join("run.json")).unwrap();
    assert_eq!((info.shard, info.merged_from.len()), (None, 4));
    // The merged interval log holds every successful request once.
    let hlog = std::fs::read(merged_dir.join("open.hlog")).unwrap();
    let log = load_client::results::hdr::read_hlog(&hlog).unwrap();
    let in_log: u64 = log.intervals.iter().map(|i| i.histogram.len()).sum();
    assert_eq!(in_log, open.ok);
    assert!(log.intervals.len() <= 4, "{} seconds", log.intervals.len());
    // report and compare read the merged folder as any other.
    load_client::report::generate(&merged_dir).unwrap();
    load_client::compare::load_summary(&merged_dir).unwrap();

    // One process, the whole scenario.
    let single_dir = dir.path().join("single");
    let out = load_client(
        &[
            "run",
            scenario.to_str().unwrap(),
            "--quiet",
            "--out",
            single_dir.to_str().unwrap(),
        ],
        None,
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let single = results(&single_dir);
    let (a, b) = (open.latency.unwrap(), row(&single, "open").latency.unwrap());
    let ms = |us: u64| us as f64 / 1000.0;
    eprintln!(
        "open loop, 200/s at D = 50 ms: merged p50 {} ms p99 {} ms; single p50 {} ms p99 {} ms",
        ms(a.p50),
        ms(a.p99),
        ms(b.p50),
        ms(b.p99)
    );
    assert!(
        (ms(a.p50) - ms(b.p50)).abs() <= 10.0,
        "p50 merged {} vs single {}",
        ms(a.p50),
        ms(b.p50)
    );
    assert!(
        (ms(a.p99) - ms(b.p99)).abs() <= 100.0,
        "p99 merged {} vs single {}",
        ms(a.p99),
        ms(b.p99)
    );
    assert!(
        ms(a.p50) >= 50.0,
        "p50 {} below the server's delay",
        ms(a.p50)
    );
}

fn read_hdr(path: &Path) -> hdrhistogram::Histogram<u64> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    load_client::results::hdr::read_hdr(&text).unwrap()
}

/// Two shards of a request mix: each entry's `<stem>@<entry>.hdr` in the
/// merged folder is the sum of the shards' (a shard whose part of a case
/// is empty has none), and the merged entry rows' latency columns are
/// filled from it. A shard that lost an entry file while its row is there
/// is refused, naming the file.
#[test]
fn merged_mix_entries_keep_their_own_histograms() {
    use load_client::results::files::{case_stem, request_hdr_name, REQUEST_SEPARATOR};
    use load_client::results::Latency;
    let server = server("2ms");
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(
        dir.path(),
        "s.yaml",
        &format!(
            "url: http://{}/\nrequests:\n\
             \x20 - {{name: home, weight: 3, path: /}}\n\
             \x20 - {{name: err, weight: 1, path: /status/503}}\n\
             cases:\n\
             \x20 - {{name: closed, executor: tasks, tasks: 2, requests_per_task: 40}}\n\
             \x20 - {{name: open, executor: rate, rate: 100/s, duration: 500ms}}\n\
             \x20 - {{name: one, executor: single_task, requests: 8}}\n",
            server.addr()
        ),
    );
    let shards = run_shards(&scenario, dir.path(), 2, &[]);
    let merged_dir = dir.path().join("merged");
    let out = merge(&shards, &merged_dir);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let merged = results(&merged_dir);
    assert_accounted(&merged);
    let shard_rows: Vec<Vec<CaseResult>> = shards.iter().map(|s| results(s)).collect();
    // `one` is a single task: one shard sends it all, the other records
    // an empty case without entry rows or entry files.
    let empty = shard_rows
        .iter()
        .position(|rows| row(rows, "one").requests == 0);
    let empty = empty.expect("one shard without a part of `one`");
    assert!(row(&shard_rows[empty], "one").parts.is_empty());
    assert!(!shards[empty].join("one@home.hdr").exists());
    let mut filled = 0;
    for r in &merged {
        assert_eq!(r.parts.len(), 2, "{}", r.case);
        for p in &r.parts {
            let name = request_hdr_name(&r.case, r.repetition, &p.request);
            let h = read_hdr(&merged_dir.join(&name));
            let from_shards: u64 = shards
                .iter()
                .map(|s| s.join(&name))
                .filter(|f| f.exists())
                .map(|f| read_hdr(&f).len())
                .sum();
            assert_eq!(h.len(), from_shards, "{name}");
            assert_eq!(h.len(), p.ok, "{name}");
            assert_eq!(p.ok, p.requests - p.errors.total(), "{name}");
            // summary.csv keeps the mean to 3 decimals; the rest exactly.
            let key = |l: Option<Latency>| l.map(|l| (l.min, l.p50, l.p90, l.p99, l.p999, l.max));
            assert_eq!(key(p.latency), key(Latency::of(&h)), "{name}");
            if p.request == "home" {
                assert!(p.ok > 0 && p.latency.is_some(), "{name}: {p:?}");
                filled += 1;
            } else {
                assert_eq!((p.ok, p.latency), (0, None), "{name}");
            }
        }
        let whole = read_hdr(&merged_dir.join(format!("{}.hdr", case_stem(&r.case, 1))));
        assert_eq!(whole.len(), r.parts.iter().map(|p| p.ok).sum::<u64>());
    }
    assert_eq!(filled, 3);
    // Only case stems got case files: no `<stem>@<entry>.hgrm` and such.
    let odd: Vec<String> = std::fs::read_dir(&merged_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(REQUEST_SEPARATOR) && !n.ends_with(".hdr"))
        .collect();
    assert!(odd.is_empty(), "{odd:?}");
    load_client::report::generate(&merged_dir).unwrap();

    // An entry file lost from a shard that has the entry's row.
    let broken = dir.path().join("broken");
    copy_dir(&shards[1], &broken);
    std::fs::remove_file(broken.join("closed@err.hdr")).unwrap();
    let out = merge(&[shards[0].clone(), broken], &dir.path().join("m2"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("closed@err.hdr"), "{}", stderr(&out));
}

/// Copies a folder's files (shard folders hold no subfolders).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn merge_refuses_shards_that_do_not_belong_together() {
    // Eight client processes: not beside a timing test.
    let _alone = alone();
    let server = server("0s");
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "url: http://{}/\ncases:\n  - {{name: c, executor: tasks, tasks: 2, requests_per_task: 2}}\n",
        server.addr()
    );
    let a = write(dir.path(), "a.yaml", &text);
    let b = write(dir.path(), "b.yaml", &format!("# another scenario\n{text}"));
    let shards = run_shards(&a, dir.path(), 2, &[]);
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let other_shards = run_shards(&b, &other, 2, &[]);
    let out = dir.path().join("merged");
    let refused = |dirs: &[PathBuf], expect: &[&str]| {
        let done = merge(dirs, &out);
        let text = stderr(&done);
        assert_eq!(done.status.code(), Some(2), "{text}");
        for e in expect {
            assert!(text.contains(e), "{e:?} not in {text}");
        }
        assert!(!out.join("run.json").exists());
    };
    let s0 = shards[0].display().to_string();
    let s1 = shards[1].display().to_string();
    refused(&shards[..1], &["missing shards of 2: 1/2 (have 0/2)"]);
    refused(
        &[shards[0].clone(), shards[0].clone(), shards[1].clone()],
        &["duplicate shards: shard 0/2 in", &s0],
    );
    refused(
        &[shards[0].clone(), other_shards[1].clone()],
        &["the shards are of different scenarios (SHA-256", &s0],
    );
    let cut = dir.path().join("cut");
    copy_dir(&shards[1], &cut);
    std::fs::remove_file(cut.join("run.json")).unwrap();
    refused(
        &[shards[0].clone(), cut.clone()],
        &[
            "1 incomplete shard folder(s)",
            "no run.json",
            &cut.display().to_string(),
        ],
    );
    // A plain run is not a shard.
    let plain = dir.path().join("plain");
    let done = load_client(
        &[
            "run",
            a.to_str().unwrap(),
            "--quiet",
            "--out",
            plain.to_str().unwrap(),
        ],
        None,
    )
    .output()
    .unwrap();
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
    refused(
        &[shards[0].clone(), plain.clone()],
        &["not shard folders", &plain.display().to_string()],
    );
    // Different overrides.
    let set = dir.path().join("set");
    std::fs::create_dir(&set).unwrap();
    let set_shards = run_shards(&a, &set, 2, &["--set", "cases.c.requests_per_task=1"]);
    refused(
        &[shards[0].clone(), set_shards[1].clone()],
        &[
            "different overrides",
            &s0,
            &set_shards[1].display().to_string(),
        ],
    );
    let done = merge(&shards, &shards[1]);
    assert_eq!(done.status.code(), Some(2), "{}", stderr(&done));
    assert!(
        stderr(&done).contains("that is one of the shard folders"),
        "{}",
        stderr(&done)
    );
    // And the two that belong together merge.
    let done = merge(&shards, &out);
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
    assert_eq!(row(&results(&out), "c").requests, 4, "{s1}");
}

/// `throughput < 250/s` holds on each of two shards (each sends 200/s) and
/// fails on the whole (400/s): the shards leave checks to `merge` (no
/// checks.csv, exit 0), `merge` judges the whole and exits 1.
#[test]
fn a_check_that_fails_only_on_the_whole_fails_the_merge() {
    let _alone = alone();
    let server = server("0s");
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(
        dir.path(),
        "s.yaml",
        &format!(
            "url: http://{}/\nchecks: [throughput < 250/s]\ncases:\n\
             \x20 - {{name: open, executor: rate, rate: 400/s, duration: 1s}}\n",
            server.addr()
        ),
    );
    let shards = run_shards(&scenario, dir.path(), 2, &[]);
    for shard in &shards {
        assert!(!shard.join("checks.csv").exists());
    }
    let out = dir.path().join("merged");
    let done = merge(&shards, &out);
    let text = String::from_utf8_lossy(&done.stdout).into_owned();
    assert_eq!(done.status.code(), Some(1), "{text}{}", stderr(&done));
    assert!(text.contains("throughput < 250/s"), "{text}");
    let checks = std::fs::read_to_string(out.join("checks.csv")).unwrap();
    assert!(
        checks.contains("open,1,throughput < 250/s,false"),
        "{checks}"
    );
}

/// `--start-at`, `--shards` and `--shard` refusals: exit 2 with a message
/// that names the problem, before any load is sent.
#[test]
fn bad_shard_and_start_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("url: http://127.0.0.1:{}/\n", closed_port());
    let scenario = write(
        dir.path(),
        "s.yaml",
        &format!("{url}cases:\n  - {{name: c, executor: tasks, tasks: 2, requests_per_task: 1}}\n"),
    );
    let embedded = write(
        dir.path(),
        "e.yaml",
        "server: {delay: 0s}\ncases:\n  - {name: c, executor: tasks, tasks: 2, requests_per_task: 1}\n",
    );
    let s = scenario.to_str().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    let table: &[(&[&str], Option<&str>, &str)] = &[
        (
            &["--start-at", "2000-01-01T00:00:00Z"],
            None,
            "ago, more than the 60s",
        ),
        (&["--start-at", "+3h"], None, "pass --allow-distant-start"),
        (
            &["--start-at", "noon"],
            None,
            "expected an RFC 3339 UTC time",
        ),
        (
            &["--shards", "4"],
            None,
            "JOB_COMPLETION_INDEX, which is not set",
        ),
        (
            &["--shards", "4"],
            Some("x"),
            "JOB_COMPLETION_INDEX, which is \"x\", not a number",
        ),
        (
            &["--shards", "4"],
            Some("4"),
            "JOB_COMPLETION_INDEX=4: shard index 4 is not below the shard count 4",
        ),
        (
            &["--shard", "2/2"],
            None,
            "shard index 2 is not below the shard count 2",
        ),
    ];
    for (extra, index, expect) in table {
        let mut args = vec!["run", s, "--quiet", "--out", o];
        args.extend_from_slice(extra);
        let done = load_client(&args, *index).output().unwrap();
        let text = stderr(&done);
        assert_eq!(done.status.code(), Some(2), "{extra:?}: {text}");
        assert!(text.contains(expect), "{extra:?}: {expect:?} not in {text}");
        assert!(!out.join("run.json").exists(), "{extra:?} ran");
    }
    let done = load_client(
        &[
            "run",
            embedded.to_str().unwrap(),
            "--quiet",
            "--shard",
            "0/2",
            "--out",
            o,
        ],
        None,
    )
    .output()
    .unwrap();
    assert_eq!(done.status.code(), Some(2), "{}", stderr(&done));
    assert!(
        stderr(&done).contains("starts its own mock server"),
        "{}",
        stderr(&done)
    );
}

/// A shard that gets to its `--start-at` late still starts its open-loop
/// schedule at the instant: the slots it missed go out at once and their
/// lateness is latency (coordinated-omission-correct), and run.json
/// records the skew.
#[test]
fn a_late_shard_starts_its_schedule_at_the_instant() {
    let _alone = alone();
    let server = server("0s");
    let fixture = crate::util::Fixture::new(&format!(
        "url: http://{}/\ncases:\n  - {{name: open, executor: rate, rate: 100/s, duration: 3s}}\n",
        server.addr()
    ));
    let at = std::time::SystemTime::now() - std::time::Duration::from_millis(1500);
    let options = load_client::run::RunOptions {
        start_at: Some(load_client::start_at::format_millis(at)),
        shard: "1/2".parse().unwrap(),
        ..fixture.options()
    };
    let report = load_client::run::run(&options).unwrap();
    assert_accounted(&report.results);
    let open = &report.results[0];
    // Slots 1, 3, 5, ... of 300: 150, none skipped (the window is 3 s).
    assert_eq!(open.requests + open.skipped_sends, 150);
    let latency = open.latency.unwrap();
    assert!(latency.max >= 1_400_000, "max {} µs", latency.max);
    assert!(latency.p50 < 500_000, "p50 {} µs", latency.p50);
    let info = RunInfo::read(&fixture.out().join("run.json")).unwrap();
    let skew = info.start_skew_seconds.unwrap();
    assert!((1.4..10.0).contains(&skew), "skew {skew}");
}

/// Not a test: writes the input of the merge benchmark (README,
/// "Running on many machines"): 16 shard folders of one 60 s open-loop
/// case, each second's histogram holding 1 000 latencies spread from
/// 1 ms to 2 s, into `$MERGE_BENCH_DIR/shard-I`. Run it with
/// `MERGE_BENCH_DIR=/tmp/mb cargo test -p load-client --test it -- --ignored synthesize`.
#[test]
#[ignore]
fn synthesize_merge_bench_input() {
    use load_client::results::files::{self, CaseData, RunJson, Summary, Writer};
    use load_client::results::run_json::ShardInfo;
    use std::time::{Duration, UNIX_EPOCH};
    let Some(root) = std::env::var_os("MERGE_BENCH_DIR") else {
        return;
    };
    let start = UNIX_EPOCH + Duration::from_secs(1_764_000_000);
    for shard in 0..16u32 {
        let mut recorder = load_client::recorder::Recorder::default();
        let mut x = u64::from(shard) + 1;
        for second in 0..60u64 {
            for _ in 0..1_000 {
                // A cheap generator; log-uniform latencies 1 ms .. 2 s.
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let u = (x >> 11) as f64 / (1u64 << 53) as f64;
                let us = (1_000.0 * 2_000f64.powf(u)) as u64;
                recorder.ok(200, Duration::from_micros(us));
                recorder.timeline.record(second, Some(us));
            }
        }
        let dir = PathBuf::from(&root).join(format!("shard-{shard}"));
        std::fs::create_dir_all(&dir).unwrap();
        let case_files = files::case_files(&CaseData {
            case: "open",
            repetition: 1,
            ok: &recorder.ok,
            timeline: &recorder.timeline,
            started_at: start + Duration::from_millis(u64::from(shard)),
            requests: &[],
        })
        .unwrap();
        let result = CaseResult {
            scenario: "bench".into(),
            case: "open".into(),
            base_case: "open".into(),
            repetition: 1,
            executor: "rate".into(),
            runtime: "multi_thread".into(),
            connection: "reuse".into(),
            target_rate: Some(16_000.0),
            requests: 60_000,
            ok: 60_000,
            statuses: [(200, 60_000)].into(),
            wall_seconds: 60.0,
            throughput: 1_000.0,
            achieved_rate: 1_000.0,
            latency: load_client::results::Latency::of(&recorder.ok),
            ..CaseResult::default()
        };
        let info = RunInfo {
            scenario: "bench".into(),
            scenario_sha256: "0".repeat(64),
            cases: vec!["open".into()],
            shard: Some(ShardInfo {
                index: shard,
                count: 16,
            }),
            ..RunInfo::default()
        };
        let results = [result];
        let summary = Summary(&results);
        let mut writers: Vec<&dyn Writer> = case_files.iter().map(|f| f as &dyn Writer).collect();
        writers.push(&summary);
        load_client::run::write_files(&dir, &writers, &RunJson(&info)).unwrap();
    }
}
