//! `report.html` in a real browser: a short run's report is opened in
//! headless Chromium, which takes a 1280×2000 screenshot and dumps the
//! DOM it rendered; the results table, the charts' `<svg>` elements and
//! the checks' verdicts must be there, the console must stay silent, and
//! the file must name no external URL at all.
//!
//! The console check is proven on the machine's own browser first: a probe
//! page that logs an error and throws must be caught by the same scan, so
//! a browser whose log format changed fails the test instead of passing it.
//!
//! Without a browser the test says so and passes, unless `CI` is set (to
//! anything but `false` or `0`): CI installs Chromium (`.ci/run`) and never
//! skips it silently. `CHROMIUM=/path` picks the browser.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use load_client::results::files;

use crate::util::{self, Fixture};

/// The browser: `$CHROMIUM`, else the first of the usual names found.
fn find_browser() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let names = [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ];
    let dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    std::iter::once(PathBuf::from("/usr/bin"))
        .chain(dirs)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Runs the browser headless on `page` with `extra` flags; returns its
/// standard output and error. Killed after 90 s.
fn chromium(browser: &Path, profile: &Path, page: &Path, extra: &[&str]) -> (String, String) {
    let out_dir = tempfile::tempdir().expect("temp dir");
    let (stdout, stderr) = (out_dir.path().join("out"), out_dir.path().join("err"));
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match child.try_wait().expect("wait for the browser") {
            Some(_) => break,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{} did not finish within 90 s", browser.display());
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    (read(&stdout), read(&stderr))
}

/// Every console message and failed load the browser logged: Chromium logs
/// each console call (any level, uncaught exceptions included) as a
/// `:CONSOLE` line, and failed loads as `net::ERR_`.
fn console_problems(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught") || l.contains("net::ERR_"))
        .collect()
}

/// Anything in the page that would make the browser fetch or link out.
fn external_references(html: &str) -> Vec<&'static str> {
    let lower = html.to_ascii_lowercase();
    [
        "http://", "https://", "ftp://", "src=", "href=", "url(", "@import", "<link", "<script",
        "<img", "<iframe", "<object", "<embed",
    ]
    .into_iter()
    .filter(|needle| lower.contains(needle))
    .collect()
}

fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.len() > 24 && &bytes[..8] == b"\x89PNG\r\n\x1a\n",
        "not a PNG"
    );
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    (be(16), be(20))
}

#[test]
fn the_report_renders_in_headless_chromium() {
    let Some(browser) = find_browser() else {
        let message = "browser test: no Chromium found (install the Debian package `chromium`, or set CHROMIUM=/path)";
        assert!(!in_ci(), "{message}; CI must run this test");
        eprintln!("{message}; skipped outside CI");
        return;
    };
    let fx = Fixture::new(
        r#"
name: browser
server: {delay: 2ms, capacity: 4, queue: 100}
checks: [error_rate < 1%]
cases:
  - name: sweep
    executor: tasks
    tasks: [1, 2, 4, 8]
    requests_per_task: 3
  - name: open
    executor: rate
    rate: 200/s
    duration: 300ms
    checks: ["p99 < 1us"]
"#,
    );
    let report = fx.run().expect("run");
    util::assert_accounted(&report.results);
    let page = fx.out().join(files::REPORT_HTML);
    let html = std::fs::read_to_string(&page).expect("run writes report.html");
    assert_eq!(
        external_references(&html),
        Vec::<&str>::new(),
        "the page must be self-contained"
    );
    assert!(html.len() < 2_000_000, "{} bytes", html.len());

    let profile = tempfile::tempdir().expect("profile dir");
    // The console scan must see what it is meant to catch.
    let probe = fx.dir.path().join("probe.html");
    std::fs::write(
        &probe,
        "<!DOCTYPE html><title>probe</title><p>probe</p><script>console.error('probe'); missing();</script>",
    )
    .unwrap();
    let (_, stderr) = chromium(&browser, profile.path(), &probe, &["--dump-dom"]);
    assert!(
        console_problems(&stderr).len() >= 2,
        "the console scan missed the probe's error and exception; the browser's log format changed?\n{stderr}"
    );

    let shot = fx.dir.path().join("report.png");
    let (_, stderr) = chromium(
        &browser,
        profile.path(),
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,2000",
        ],
    );
    assert_eq!(png_size(&shot), (1280, 2000), "screenshot\n{stderr}");
    let shot_bytes = std::fs::metadata(&shot).unwrap().len();
    assert!(
        shot_bytes > 30_000,
        "a blank page compresses to less: {shot_bytes} bytes"
    );
    assert_eq!(console_problems(&stderr), Vec::<&str>::new());

    let (dom, stderr) = chromium(&browser, profile.path(), &page, &["--dump-dom"]);
    assert_eq!(console_problems(&stderr), Vec::<&str>::new());
    assert!(
        dom.contains("id=\"results-table\""),
        "the results table:\n{dom}"
    );
    for case in ["sweep-1", "sweep-8", "open"] {
        assert!(
            dom.contains(&format!("<td class=\"text\">{case}</td>")),
            "row {case}"
        );
    }
    // The saturation chart, the percentile spectrum, two per case.
    let svgs = dom.matches("<svg").count();
    assert!(
        svgs >= 2 + 2 * report.results.len(),
        "{svgs} <svg> elements"
    );
    assert!(dom.contains("knee"), "the sweep's knee line");
    let verdict_rows = dom.matches("<tr class=\"verdict\">").count();
    assert_eq!(verdict_rows, report.verdicts.len());
    assert!(
        dom.contains("<td class=\"fail\">FAIL</td>")
            && dom.contains("<td class=\"pass\">PASS</td>")
    );
    assert!(
        dom.contains("id=\"verdict\" class=\"banner fail\""),
        "the failed check shows on top"
    );
    eprintln!(
        "browser test: {} rendered by {}",
        page.display(),
        browser.display()
    );
}
