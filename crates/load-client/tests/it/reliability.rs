//! Reliability promises of the load client: a server that dies or comes
//! back, Ctrl-C, running out of file descriptors, a results folder that
//! cannot be written. Each test would fail if its promise were broken.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{assert_accounted, case, Fixture};
use load_client::outcome::ErrorKind;
use mock_server::{EmbeddedServer, ServerConfig};

fn server(yaml: &str) -> EmbeddedServer {
    let config: ServerConfig = serde_yaml::from_str(yaml).unwrap();
    EmbeddedServer::start(config.validate().unwrap(), 1).unwrap()
}

fn timeline(dir: &std::path::Path, case: &str) -> Vec<(u64, u64, u64)> {
    let text = std::fs::read_to_string(dir.join(format!("{case}.timeline.csv"))).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<u64> = l.split(',').take(3).map(|x| x.parse().unwrap()).collect();
            (f[0], f[1], f[2])
        })
        .collect()
}

#[test]
fn a_server_killed_and_restarted_mid_run_is_survived() {
    let first = server("listen: 127.0.0.1:0\ndelay: 5ms\n");
    let addr = first.addr();
    let f = Fixture::new(&format!(
        "url: http://{addr}/\nrequest:\n  timeout: 500ms\n  connect_timeout: 200ms\ncases:\n\
         \x20 - {{name: t, executor: tasks, tasks: 2, duration: 3s}}\n"
    ));
    let options = f.options();
    let client = std::thread::spawn(move || load_client::run::run(&options));
    std::thread::sleep(Duration::from_millis(800));
    first.shutdown(Duration::from_millis(100));
    std::thread::sleep(Duration::from_millis(600));
    let second = server(&format!("listen: {addr}\ndelay: 5ms\n"));
    let report = client.join().unwrap().expect("the run finishes");
    assert_accounted(&report.results);
    let r = case(&report, "t");
    let refused = r.errors.get(ErrorKind::ConnectRefused) + r.errors.get(ErrorKind::Reset);
    assert!(
        refused > 0,
        "errors while the server was down: {:?}",
        r.errors
    );
    let seconds = timeline(&f.out(), "t");
    let last = seconds.last().unwrap();
    assert!(last.1 > 0, "no success after the restart: {seconds:?}");
    assert!(second.stats().served > 0);
}

#[test]
fn ctrl_c_writes_what_was_measured_and_exits_130() {
    let f = Fixture::new(
        "server:\n  delay: 10ms\ncases:\n  - {name: long, executor: tasks, tasks: 4, duration: 30s}\n\
         \x20 - {name: never, executor: single_task, requests: 1}\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_load-client"))
        .args(["run", "--quiet", "--out"])
        .arg(f.out())
        .arg(&f.scenario)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let sent_at = Instant::now();
    // SAFETY: sending a signal to our own child process.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT)
    };
    let status = wait_with_timeout(&mut child, Duration::from_secs(20));
    assert!(
        sent_at.elapsed() < Duration::from_secs(10),
        "took {:?} to stop",
        sent_at.elapsed()
    );
    assert_eq!(status.code(), Some(130));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.out().join("run.json")).unwrap()).unwrap();
    assert_eq!(json["interrupted"], true);
    let csv = std::fs::read_to_string(f.out().join("summary.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        2,
        "one case ran, the second never started:\n{csv}"
    );
    assert!(csv.lines().nth(1).unwrap().contains(",true,"), "{csv}");
}

fn wait_with_timeout(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            panic!("the client did not exit in {limit:?}; stderr: {err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn running_out_of_file_descriptors_is_counted_not_fatal() {
    let target = server("listen: 127.0.0.1:0\ndelay: 300ms\n");
    let f = Fixture::new(&format!(
        "url: http://{}/\nrequest:\n  timeout: 10s\ncases:\n  - {{name: flood, executor: unbounded, requests: 20000}}\n",
        target.addr()
    ));
    let mut command = Command::new(env!("CARGO_BIN_EXE_load-client"));
    command
        .args(["run", "--quiet", "--out"])
        .arg(f.out())
        .arg(&f.scenario)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; it only lowers this child's limit.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 256,
                rlim_max: 256,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    let status = wait_with_timeout(&mut child, Duration::from_secs(60));
    assert_eq!(
        status.code(),
        Some(0),
        "some requests succeed, so the run is ok"
    );
    let mut reader = csv::Reader::from_path(f.out().join("summary.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let get = |name: &str| -> u64 {
        row.get(headers.iter().position(|h| h == name).unwrap())
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(get("requests"), 20_000);
    assert_eq!(get("ok") + get("errors"), 20_000);
    assert!(
        get("err_too_many_open_files") > 0,
        "no EMFILE counted: {row:?}"
    );
    assert!(get("ok") > 0);
    // Requests that never left the client are not part of the achieved rate
    // (the EMFILE errors here are thousands of the 20 000).
    assert!(get("err_too_many_open_files") > 100, "{row:?}");
    let float = |name: &str| -> f64 {
        row.get(headers.iter().position(|h| h == name).unwrap())
            .unwrap()
            .parse()
            .unwrap()
    };
    let left = get("requests") - get("err_too_many_open_files") - get("err_ports_exhausted");
    let expected = left as f64 / float("wall_seconds");
    assert!(
        (float("achieved_rate") - expected).abs() <= 1e-4 * expected + 0.001,
        "achieved_rate {} but {left} requests left the client in {} s: {row:?}",
        float("achieved_rate"),
        float("wall_seconds")
    );
}

#[test]
fn an_unwritable_results_folder_is_a_clear_error() {
    let f = Fixture::new(
        "server:\n  delay: 1ms\ncases:\n  - {name: a, executor: single_task, requests: 2}\n",
    );
    // A folder below a regular file cannot be created.
    let blocker = f.dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let mut options = f.options();
    options.out = Some(blocker.join("out"));
    let err = load_client::run::run(&options).unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert!(
        err.to_string().contains("cannot create the output folder"),
        "{err}"
    );

    // summary.csv cannot replace a directory: the write fails cleanly and
    // leaves no temporary file behind.
    let out = f.dir.path().join("out2");
    std::fs::create_dir_all(out.join("summary.csv")).unwrap();
    options.out = Some(out.clone());
    let err = load_client::run::run(&options).unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert!(
        err.to_string().contains("cannot write summary.csv"),
        "{err}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty());
}

/// Trust in the results folder: what a run writes, where, and what it
/// never writes (issue "Trust").
mod trust {
    use super::*;
    use std::path::Path;

    const SCENARIO: &str = "server:\n  delay: 1ms\nchecks: [error_rate < 50%]\n\
                            cases:\n  - {name: a, executor: single_task, requests: 3}\n";

    /// Every regular file in `dir`, with its bytes.
    fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&p).unwrap())
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn symlinks_planted_in_the_results_folder_are_never_written_through() {
        let f = Fixture::new(SCENARIO);
        let outside = tempfile::tempdir().unwrap();
        let out = f.out();
        std::fs::create_dir_all(&out).unwrap();
        let pid = std::process::id();
        let names = [
            "summary.csv",
            "run.json",
            "checks.csv",
            "a.hgrm",
            "a.hlog",
            "a.hdr",
            "a.timeline.csv",
        ];
        for (i, name) in names.iter().enumerate() {
            // Both the final name and the temporary name older versions used.
            for (j, link) in [name.to_string(), format!(".{name}.tmp-{pid}")]
                .iter()
                .enumerate()
            {
                let victim = outside.path().join(format!("victim-{i}-{j}"));
                std::fs::write(&victim, b"precious").unwrap();
                std::os::unix::fs::symlink(&victim, out.join(link)).unwrap();
            }
        }
        let report = f.run().expect("the run succeeds");
        assert_accounted(&report.results);
        for (name, bytes) in files(outside.path()) {
            let text = String::from_utf8_lossy(&bytes);
            assert_eq!(text, "precious", "{name} was written through a link");
        }
        for name in names {
            let meta = std::fs::symlink_metadata(out.join(name)).unwrap();
            assert!(meta.file_type().is_file(), "{name} is still a link");
        }
    }

    #[test]
    fn run_json_is_written_last_and_only_for_a_complete_run() {
        let f = Fixture::new(SCENARIO);
        let out = f.out();
        std::fs::create_dir_all(&out).unwrap();
        // A stale run.json from an earlier run, and the file written just
        // before run.json made unwritable.
        std::fs::write(out.join("run.json"), b"{}").unwrap();
        std::fs::create_dir(out.join("checks.csv")).unwrap();
        let err = f.run().unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(err.to_string().contains("cannot write checks.csv"), "{err}");
        assert!(
            !out.join("run.json").exists(),
            "an incomplete folder must have no run.json"
        );
        assert!(out.join("summary.csv").is_file());

        std::fs::remove_dir(out.join("checks.csv")).unwrap();
        f.run().expect("the run succeeds");
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
        assert_eq!(json["cases"], serde_json::json!(["a"]));
        let modified = |name: &str| {
            std::fs::metadata(out.join(name))
                .unwrap()
                .modified()
                .unwrap()
        };
        for (name, _) in files(&out) {
            assert!(
                modified(&name) <= modified("run.json"),
                "{name} after run.json"
            );
        }
    }

    #[test]
    fn credentials_never_reach_the_results_folder_or_the_terminal() {
        let target = server("listen: 127.0.0.1:0\ndelay: 1ms\n");
        let f = Fixture::new(&format!(
            "url: http://user:SECRET0@{}/items?api_key=SECRET1&page=1\n\
             request:\n  headers: {{Cookie: SECRET2, Accept: text/plain}}\n\
             cases:\n  - {{name: a, executor: single_task, requests: 3}}\n",
            target.addr()
        ));
        let output = Command::new(env!("CARGO_BIN_EXE_load-client"))
            .args(["run", "--quiet", "--out"])
            .arg(f.out())
            .arg(&f.scenario)
            .args(["--set", "request.headers.Authorization=Bearer SECRET3"])
            .args(["--set", "request.headers.X-Api-Key='SECRET4'"])
            .env("LOAD_CLIENT_LOG", "trace")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
        assert!(!stdout.contains("SECRET"), "stdout: {stdout}");
        assert!(!stderr.contains("SECRET"), "stderr: {stderr}");
        let written = files(&f.out());
        assert!(written.iter().any(|(n, _)| n == "run.json"));
        for (name, bytes) in &written {
            let text = String::from_utf8_lossy(bytes);
            assert!(!text.contains("SECRET"), "{name}: {text}");
        }
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(f.out().join("run.json")).unwrap()).unwrap();
        assert_eq!(
            json["overrides"],
            serde_json::json!([
                "request.headers.Authorization=<redacted>",
                "request.headers.X-Api-Key=<redacted>"
            ])
        );
        let shown_target = json["target"].as_str().unwrap();
        assert!(
            shown_target.starts_with("http://user:***@127.0.0.1:"),
            "{json}"
        );
        assert!(
            shown_target.ends_with("/items?api_key=<redacted>&page=1"),
            "{json}"
        );

        // Refused input is echoed in error messages: without its secrets.
        for set in [
            "url=http://user:SECRET5@127.0.0.1:1/a b",
            "request.headers.Authorization=: SECRET6",
        ] {
            let output = Command::new(env!("CARGO_BIN_EXE_load-client"))
                .args(["run", "--quiet", "--out"])
                .arg(f.out())
                .arg(&f.scenario)
                .args(["--set", set])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{stderr}");
            assert!(stderr.contains("error:"), "{stderr}");
            assert!(!stderr.contains("SECRET"), "{stderr}");
        }
    }
}
