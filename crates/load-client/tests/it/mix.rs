//! Weighted request mixes and data files (`requests:`, `data:`, `seed`):
//! the draw against the weights, `{{column}}` substitution in every order,
//! every executor, located errors for hostile data files, per-request
//! checks and `compare` by request. The server is a test-only HTTP/1.1
//! counter that remembers every request it read, so what the client says
//! it sent is checked against what arrived.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use load_client::compare::{self, Presence};
use load_client::results::{files, Latency};

use crate::util::{assert_accounted, case, Fixture};

/// One request as the counting server read it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    method: String,
    path: String,
    user: Option<String>,
    body: String,
}

/// A keep-alive HTTP/1.1 server on 127.0.0.1 that answers 200 (500 for
/// paths starting with `/fail`) with an empty body and records every
/// request, in arrival order.
struct Counter {
    addr: std::net::SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Counter {
    fn start() -> Counter {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, log.clone()));
            }
        });
        Counter {
            addr,
            seen,
            _runtime: runtime,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    fn per_path(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for s in self.seen() {
            *counts.entry(s.path).or_default() += 1;
        }
        counts
    }
}

async fn serve(mut stream: tokio::net::TcpStream, log: Arc<Mutex<Vec<Seen>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::new();
    loop {
        // One whole request (head and content-length body) in `buf`.
        let (seen, len) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(head)) = req.parse(&buf) {
                let header = |name: &str| {
                    req.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).into_owned())
                };
                let length: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
                if buf.len() >= head + length {
                    let seen = Seen {
                        method: req.method.unwrap().to_string(),
                        path: req.path.unwrap().to_string(),
                        user: header("x-user"),
                        body: String::from_utf8_lossy(&buf[head..head + length]).into_owned(),
                    };
                    break (seen, head + length);
                }
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        buf.drain(..len);
        let status = if seen.path.starts_with("/fail") {
            "500 Internal Server Error"
        } else {
            "200 OK"
        };
        log.lock().unwrap().push(seen);
        let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

const MIX_70_20_10: &str = "requests:\n\
  \x20 - {name: browse, weight: 70, path: /browse}\n\
  \x20 - {name: search, weight: 20, path: /search?q=x}\n\
  \x20 - {name: buy, weight: 10, method: POST, path: /buy, body: '{}'}\n";

#[test]
fn a_70_20_10_mix_lands_on_its_weights_and_matches_what_the_server_counted() {
    let server = Counter::start();
    let f = Fixture::new(&format!(
        "url: {}\n{MIX_70_20_10}cases:\n  - {{name: mix, executor: tasks, tasks: 4, requests_per_task: 2500}}\n",
        server.url()
    ));
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    let total = case(&report, "mix");
    assert_eq!(total.requests, 10_000);
    assert_eq!(total.ok, 10_000);
    assert!(total.request.is_empty());
    let names: Vec<&str> = total.parts.iter().map(|p| p.request.as_str()).collect();
    assert_eq!(names, ["browse", "search", "buy"]);
    assert_accounted(&total.parts);
    let counted = server.per_path();
    for (part, (path, weight)) in
        total
            .parts
            .iter()
            .zip([("/browse", 70.0), ("/search?q=x", 20.0), ("/buy", 10.0)])
    {
        assert_eq!(
            Some(&part.requests),
            counted.get(path),
            "{path}: {counted:?}"
        );
        let share = part.requests as f64 / 100.0;
        assert!(
            (share - weight).abs() <= 2.0,
            "{path}: {share}% for weight {weight}"
        );
        assert!(part.latency.is_some());
        assert_eq!(part.statuses.get(&200), Some(&part.requests));
    }
    assert_eq!(total.parts.iter().map(|p| p.requests).sum::<u64>(), 10_000);
    assert!(server
        .seen()
        .iter()
        .all(|s| (s.method == "POST") == (s.path == "/buy")));
    // summary.csv: the total row as before, then one row per request.
    let text = std::fs::read_to_string(f.out().join("summary.csv")).unwrap();
    let requests: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(4).unwrap())
        .collect();
    assert_eq!(requests, ["", "browse", "search", "buy"]);
    assert!(text
        .lines()
        .next()
        .unwrap()
        .starts_with("schema_version,scenario,case,base_case,request,"));
}

#[test]
fn every_executor_sends_the_mix_and_accounts_per_request() {
    let server = Counter::start();
    let f = Fixture::new(&format!(
        "url: {}\nrequests:\n\
         \x20 - {{name: a, path: /a}}\n\
         \x20 - {{name: b, path: /b}}\n\
         \x20 - {{name: c, path: /c}}\n\
         cases:\n\
         \x20 - {{name: seq, executor: sequential, requests: 30}}\n\
         \x20 - {{name: one, executor: single_task, requests: 30, warmup: 6}}\n\
         \x20 - {{name: many, executor: tasks, tasks: 3, requests_per_task: 10}}\n\
         \x20 - {{name: burst, executor: unbounded, requests: 30}}\n\
         \x20 - {{name: open, executor: rate, rate: 60/s, duration: 500ms}}\n",
        server.url()
    ));
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    let mut sent = BTreeMap::<String, u64>::new();
    for r in &report.results {
        assert_accounted(&r.parts);
        assert_eq!(r.parts.len(), 3, "{}", r.case);
        assert_eq!(
            r.parts.iter().map(|p| p.requests).sum::<u64>(),
            r.requests,
            "{}",
            r.case
        );
        for p in &r.parts {
            assert!(p.requests > 0, "{}: no {}", r.case, p.request);
            assert_eq!(p.case, r.case);
            assert_eq!(p.executor, r.executor);
            *sent.entry(format!("/{}", p.request)).or_default() += p.requests;
        }
    }
    // The open loop's rate is split by weight.
    let open = case(&report, "open");
    assert_eq!(open.parts[0].target_rate, Some(20.0));
    // Everything measured arrived; the warm-up's 6 requests come on top.
    let counted = server.per_path();
    assert_eq!(
        counted.values().sum::<u64>(),
        sent.values().sum::<u64>() + 6
    );
    for (path, n) in &sent {
        assert!(
            counted[path] >= *n,
            "{path}: server {} < client {n}",
            counted[path]
        );
    }
}

fn write(f: &Fixture, name: &str, bytes: &[u8]) {
    std::fs::write(f.dir.path().join(name), bytes).unwrap();
}

const USERS: &str = "user,id\nada,1\nbob,2\ncy,3\ndee,4\neve,5\n";

/// The paths of a run of `requests` sends of `/u/{{user}}` in `order`, one
/// after another (so arrival order is send order).
fn paths_in_order(order: &str, seed: u64, requests: u32) -> Vec<String> {
    let server = Counter::start();
    let f = Fixture::new(&format!(
        "url: {}\nseed: {seed}\ndata: {{file: users.csv, order: {order}}}\n\
         requests:\n  - {{name: user, path: '/u/{{{{user}}}}'}}\n\
         cases:\n  - {{name: walk, executor: sequential, requests: {requests}}}\n",
        server.url()
    ));
    write(&f, "users.csv", USERS.as_bytes());
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    server.take().into_iter().map(|s| s.path).collect()
}

#[test]
fn placeholders_walk_the_data_file_in_each_order() {
    let users = |names: &[&str]| names.iter().map(|n| format!("/u/{n}")).collect::<Vec<_>>();
    assert_eq!(
        paths_in_order("sequential", 1, 12),
        users(&["ada", "bob", "cy", "dee", "eve", "ada", "bob", "cy", "dee", "eve", "ada", "bob"])
    );
    let shuffled = paths_in_order("shuffle", 1, 15);
    let all = users(&["ada", "bob", "cy", "dee", "eve"]);
    for pass in shuffled.chunks(5) {
        let mut sorted = pass.to_vec();
        sorted.sort();
        assert_eq!(sorted, all, "each pass covers every row once: {shuffled:?}");
    }
    assert!(
        shuffled.chunks(5).any(|pass| pass != all.as_slice()),
        "shuffle kept file order: {shuffled:?}"
    );
    let random = paths_in_order("random", 7, 40);
    assert_eq!(
        random,
        paths_in_order("random", 7, 40),
        "same seed, same rows"
    );
    assert_ne!(
        random,
        paths_in_order("random", 8, 40),
        "another seed, other rows"
    );
    assert!(random.iter().all(|p| all.contains(p)));
}

#[test]
fn placeholders_fill_headers_and_bodies_from_the_same_row() {
    let server = Counter::start();
    let f = Fixture::new(&format!(
        "url: {}\ndata: {{file: users.jsonl}}\n\
         requests:\n  - name: post\n    method: POST\n    path: /u/{{{{user}}}}\n    headers: {{x-user: '{{{{ user }}}}'}}\n    body_file: body.json\n\
         cases:\n  - {{name: posts, executor: tasks, tasks: 2, requests_per_task: 4}}\n",
        server.url()
    ));
    write(
        &f,
        "users.jsonl",
        b"{\"user\": \"ada\", \"id\": 1}\n{\"user\": \"bob\", \"id\": 22}\n",
    );
    write(&f, "body.json", b"{\"id\": {{id}}}");
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    assert_eq!(case(&report, "posts").ok, 8);
    let seen = server.seen();
    assert_eq!(seen.len(), 8);
    for s in &seen {
        let user = s.path.trim_start_matches("/u/");
        assert_eq!(s.user.as_deref(), Some(user));
        let id = if user == "ada" { "1" } else { "22" };
        assert_eq!(s.body, format!("{{\"id\": {id}}}"), "{s:?}");
    }
    assert_eq!(seen.iter().filter(|s| s.path == "/u/ada").count(), 4);
}

/// Loads a scenario with `data:` pointing at `bytes` as `name`.
fn load_with_data(name: &str, bytes: &[u8], path: &str) -> String {
    let f = Fixture::new(&format!(
        "url: http://127.0.0.1:1/\ndata: {{file: {name}}}\nrequests:\n  - {{name: r, path: '{path}'}}\ncases:\n  - {{name: c, executor: sequential, requests: 1}}\n"
    ));
    write(&f, name, bytes);
    let err = load_client::scenario::load(&f.scenario, &[], &[]).unwrap_err();
    err.to_string()
        .replace(&format!("{}/", f.dir.path().display()), "")
}

#[test]
fn hostile_data_files_get_errors_naming_the_file_the_line_and_the_problem() {
    let mut huge = b"user\nada\n".to_vec();
    huge.extend(std::iter::repeat_n(b'x', 70_000));
    let cases: [(&str, &[u8], &str, &str); 7] = [
        ("users.csv", b"user\nada\n", "/u/{{name}}", "scenario.yaml:4:3: requests[0].path: placeholder {{name}}: users.csv has no column \"name\"; its columns are: user"),
        ("users.csv", &huge, "/u/{{user}}", "scenario.yaml:2:1: data.file: users.csv:3: the line is longer than 65536 bytes, the most a line may hold"),
        ("users.csv", b"user,id\nada,1\n\xff\xfe,2\n", "/u/{{user}}", "scenario.yaml:2:1: data.file: users.csv:3: column \"user\" is not UTF-8 text (invalid byte at offset 0); save the file as UTF-8"),
        ("users.csv", b"user,id\nada,1\nbob\n", "/u/{{user}}", "scenario.yaml:2:1: data.file: users.csv:3: this row has 1 fields but the header has 2; every row needs one field per column (quote a field that holds a comma)"),
        ("users.csv", b"", "/u/{{user}}", "scenario.yaml:2:1: data.file: users.csv: the file is empty; expected a header row and at least one data row"),
        ("users.jsonl", b"{\"user\": \"ada\"}\n{\"id\": 2}\n", "/u/{{user}}", "scenario.yaml:2:1: data.file: users.jsonl:2: missing column \"user\"; every line needs the keys of the first: user"),
        ("users.csv", b"user\nada\nb b\n", "/u/{{user}}", "scenario.yaml:2:1: data.file: users.csv:3: column \"user\" holds \"b b\", which cannot go in a path (requests[0], \"r\"): paths take visible ASCII without spaces or `#` (percent-encode the rest), headers visible ASCII"),
    ];
    for (name, bytes, path, expected) in cases {
        assert_eq!(load_with_data(name, bytes, path), expected);
    }
}

#[test]
fn a_mix_is_refused_with_request_and_its_entries_are_validated() {
    let load = |yaml: &str| {
        let f = Fixture::new(yaml);
        load_client::scenario::load(&f.scenario, &[], &[])
            .unwrap_err()
            .to_string()
            .replace(&format!("{}/", f.dir.path().display()), "")
    };
    let cases = "cases:\n  - {name: c, executor: sequential, requests: 1}\n";
    for (yaml, expected) in [
        (
            format!("url: http://127.0.0.1:1/\nrequest: {{path: /}}\nrequests:\n  - {{name: a}}\n{cases}"),
            "scenario.yaml:3:1: requests: give either `request:` (one request) or `requests:` (a weighted mix), not both",
        ),
        (
            format!("url: http://127.0.0.1:1/\nrequests:\n  - {{name: a}}\n  - {{name: a}}\n{cases}"),
            "scenario.yaml:4:3: requests[1].name: two requests are named \"a\"; request names must be unique",
        ),
        (
            format!("url: http://127.0.0.1:1/\nrequests:\n  - {{name: a, weight: 0}}\n{cases}"),
            "scenario.yaml:3:3: requests[0].weight: weight 0: must be a whole number from 1 to 1000000",
        ),
        (
            format!("url: http://127.0.0.1:1/\nrequests:\n  - {{name: a}}\nchecks: [{{request: b, check: p99 < 1s}}]\n{cases}"),
            "scenario.yaml:4:1: checks[0]: no request named \"b\"; the requests are: a",
        ),
    ] {
        assert_eq!(load(&yaml), expected);
    }
}

#[test]
fn per_request_checks_pass_and_fail_on_their_own_rows() {
    let server = Counter::start();
    let f = Fixture::new(&format!(
        "url: {}\nrequests:\n\
         \x20 - {{name: good, weight: 3, path: /ok}}\n\
         \x20 - {{name: bad, weight: 1, path: /fail}}\n\
         checks:\n\
         \x20 - {{request: good, check: error_rate < 1%}}\n\
         \x20 - {{request: bad, check: error_rate < 1%}}\n\
         \x20 - requests == 200\n\
         cases:\n  - {{name: c, executor: tasks, tasks: 2, requests_per_task: 100}}\n",
        server.url()
    ));
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    let verdicts: Vec<(&str, bool)> = report
        .verdicts
        .iter()
        .map(|v| (v.expr.as_str(), v.passed))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("good: error_rate < 1%", true),
            ("bad: error_rate < 1%", false),
            ("requests == 200", true)
        ]
    );
    assert_eq!(report.exit_code(), 1);
    let bad = &case(&report, "c").parts[1];
    assert_eq!(bad.errors.total(), bad.requests);
    assert_eq!(bad.statuses.get(&500), Some(&bad.requests));
}

#[test]
fn compare_matches_rows_by_scenario_case_and_request() {
    let server = Counter::start();
    let run = |mix: &str| {
        let f = Fixture::new(&format!(
            "name: m\nurl: {}\n{mix}cases:\n  - {{name: c, executor: tasks, tasks: 2, requests_per_task: 50}}\n",
            server.url()
        ));
        f.run().unwrap();
        f
    };
    let base = run(MIX_70_20_10);
    let new = run(&MIX_70_20_10.replace("name: search", "name: find"));
    let a = compare::load_summary(&base.out()).unwrap();
    let b = compare::load_summary(&new.out()).unwrap();
    let result = compare::compare(&a, &b, &Default::default());
    let found: Vec<(String, Presence)> = result
        .cases
        .iter()
        .map(|c| (c.label(), c.presence))
        .collect();
    assert_eq!(
        found,
        [
            ("c".to_string(), Presence::Both),
            ("c/browse".to_string(), Presence::Both),
            ("c/search".to_string(), Presence::OnlyBase),
            ("c/buy".to_string(), Presence::Both),
            ("c/find".to_string(), Presence::OnlyNew),
        ]
    );
    assert!(!result.cases[1].metrics.is_empty());
}

/// The names of a folder's mix entry histograms (`<stem>@<entry>.hdr`).
fn entry_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(files::REQUEST_SEPARATOR))
        .collect();
    names.sort();
    names
}

fn read_hdr(path: &std::path::Path) -> hdrhistogram::Histogram<u64> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    load_client::results::hdr::read_hdr(&text).unwrap()
}

/// Every entry of a mix gets its own full-precision `<stem>@<entry>.hdr`
/// (repetitions and dotted case names included): it holds exactly the
/// entry's successful requests, as the case's `.hdr` holds the case's
/// (`requests - errors`), the entries' files add up to the case's, and
/// the entry row's percentiles are the file's. The folder still reads as
/// a complete run (`report`, `compare`).
#[test]
fn each_entry_of_a_mix_gets_its_own_full_precision_histogram() {
    let server = Counter::start();
    let f = Fixture::new(&format!(
        "url: {}\nrequests:\n\
         \x20 - {{name: get, weight: 3, path: /ok}}\n\
         \x20 - {{name: fail.v2, weight: 1, path: /fail}}\n\
         cases:\n  - {{name: a.b, executor: tasks, tasks: 2, requests_per_task: 60}}\n",
        server.url()
    ));
    let mut options = f.options();
    options.repeat = 2;
    let report = load_client::run::run(&options).unwrap();
    assert_accounted(&report.results);
    let out = f.out();
    assert_eq!(report.results.len(), 2);
    for r in &report.results {
        let stem = files::case_stem(&r.case, r.repetition);
        let whole = read_hdr(&out.join(format!("{stem}.hdr")));
        assert_eq!(whole.len(), r.ok, "{stem}");
        assert_eq!(r.ok, r.requests - r.errors.total(), "{stem}");
        assert_eq!(r.parts.len(), 2);
        let mut sum = load_client::recorder::new_histogram();
        for p in &r.parts {
            let name = files::request_hdr_name(&r.case, r.repetition, &p.request);
            let h = read_hdr(&out.join(&name));
            assert_eq!(h.len(), p.ok, "{name}");
            assert_eq!(p.ok, p.requests - p.errors.total(), "{name}");
            assert_eq!(Latency::of(&h), p.latency, "{name}");
            sum.add(&h).unwrap();
        }
        assert_eq!(sum, whole, "{stem}: the entries add up to the case");
        let (get, fail) = (&r.parts[0], &r.parts[1]);
        assert!(get.ok > 0 && fail.requests > 0 && fail.ok == 0, "{r:?}");
    }
    assert_eq!(
        entry_files(&out),
        [
            "a.b-r2@fail.v2.hdr",
            "a.b-r2@get.hdr",
            "a.b@fail.v2.hdr",
            "a.b@get.hdr"
        ]
    );
    load_client::results::files::check_complete(&out).unwrap();
    load_client::report::generate(&out).unwrap();
    compare::load_summary(&out).unwrap();
}

/// A single `request:` writes no entry files (its folder is as before); a
/// one-entry `requests:` list has an entry row, so its entry gets one.
#[test]
fn a_single_request_writes_no_entry_histogram() {
    let server = Counter::start();
    let run = |requests: &str| {
        let f = Fixture::new(&format!(
            "url: {}\n{requests}cases:\n  - {{name: c, executor: single_task, requests: 5}}\n",
            server.url()
        ));
        let report = f.run().unwrap();
        (f, report)
    };
    let (single, report) = run("request: {path: /x}\n");
    assert!(case(&report, "c").parts.is_empty());
    assert_eq!(entry_files(&single.out()), Vec::<String>::new());
    let (listed, report) = run("requests:\n  - {name: only, path: /x}\n");
    assert_eq!(case(&report, "c").parts.len(), 1);
    assert_eq!(entry_files(&listed.out()), ["c@only.hdr"]);
    assert_eq!(read_hdr(&listed.out().join("c@only.hdr")).len(), 5);
}
