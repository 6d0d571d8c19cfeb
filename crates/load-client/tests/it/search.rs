//! The adaptive search against the embedded server, whose limit the model
//! knows: with no queue and `overflow: reject`, requests past C in service
//! are refused at once, so the error rate breaks past C/D (rate) or C
//! (tasks).

use std::time::Instant;

use load_client::results::run_json::RunInfo;

use crate::util::{self, assert_accounted, Fixture};

/// D = 50 ms, C = 10: C/D = 200/s.
const SERVER: &str = "server:\n  delay: 50ms\n  capacity: 10\n  queue: 0\n  overflow: reject\n";

/// The same server with a five-place queue: it absorbs the jitter of a busy
/// machine's sends below C/D (with no queue, two sends that bunch up near
/// C/D are enough to refuse one), while past C/D it fills within a step and
/// refuses the excess.
const RATE_SERVER: &str =
    "server:\n  delay: 50ms\n  capacity: 10\n  queue: 5\n  overflow: reject\n";

#[test]
fn a_search_over_rate_finds_c_over_d() {
    let _alone = util::alone();
    let f = Fixture::new(&format!(
        "{RATE_SERVER}cases:\n  - name: find\n    executor: rate\n    warmup: 200ms\n    search:\n      over: rate\n      from: 25/s\n      objective: [error_rate < 1%]\n      precision: 5%\n      step_duration: 1s\n      max_steps: 16\n"
    ));
    let started = Instant::now();
    let report = f.run().unwrap();
    let took = started.elapsed();
    assert_accounted(&report.results);
    assert_eq!(report.searches.len(), 1, "{:?}", report.searches);
    let s = &report.searches[0];
    let (pass, fail) = (s.highest_pass.unwrap(), s.lowest_fail.unwrap());
    assert!(
        (170.0..=230.0).contains(&pass) && pass < fail,
        "highest passing {pass}/s, lowest failing {fail}/s, C/D = 200/s: {s:?}"
    );
    assert_eq!(s.model_limit, Some(200.0));
    assert_eq!(s.over, "rate");
    assert!(s.broke[0].starts_with("error_rate < 1%"), "{s:?}");
    // Every step is an ordinary result of the sweep named after the case.
    assert_eq!(report.results.len() as u32, s.steps);
    assert!(s.steps <= 16);
    for (i, r) in report.results.iter().enumerate() {
        assert_eq!(r.base_case, "find");
        assert!(
            r.case.starts_with(&format!("find-step{}-", i + 1)),
            "{}",
            r.case
        );
        assert!(r.target_rate.is_some());
    }
    assert_eq!(report.results[0].case, "find-step1-25rps");
    // The bound printed before the search: 16 × (1 s + 200 ms) = 19.2 s,
    // plus the time to drain and write, generously.
    assert!(took.as_secs_f64() < 19.2 + 10.0, "took {took:?}");
    // run.json records the answer.
    let info = RunInfo::read(&f.out().join("run.json")).unwrap();
    assert_eq!(info.searches, report.searches);
}

#[test]
fn a_search_over_tasks_finds_c() {
    let _alone = util::alone();
    let f = Fixture::new(&format!(
        "{SERVER}cases:\n  - name: conc\n    executor: tasks\n    search: {{over: tasks, from: 2, objective: [error_rate < 1%], step_duration: 1s, max_steps: 14}}\n"
    ));
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    let s = &report.searches[0];
    let pass = s.highest_pass.unwrap();
    assert!(
        (9.0..=11.0).contains(&pass),
        "highest passing {pass} tasks, C = 10: {s:?}"
    );
    assert_eq!(s.lowest_fail, Some(pass + 1.0), "{s:?}");
    assert!(s.converged, "{s:?}");
    assert_eq!(s.model_limit, Some(10.0));
    assert!(report.results.iter().all(|r| r.base_case == "conc"));
    assert!(report.results.iter().all(|r| r.case.ends_with("tasks")));
}

/// A second (D, C) pair: D = 100 ms, C = 40, C/D = 400/s, at twice the
/// first pair's limit. The queue (20) absorbs a send burst of 60 ms below
/// C/D on a busy machine, while past it (400/s more by 10% or more) the
/// excess fills it within the warm-up and step and is refused. About 12 s.
#[test]
fn a_search_over_rate_finds_c_over_d_for_a_second_server() {
    let _alone = util::alone();
    let f = Fixture::new(
        "server:\n  delay: 100ms\n  capacity: 40\n  queue: 20\n  overflow: reject\ncases:\n  - name: find\n    executor: rate\n    warmup: 300ms\n    search: {over: rate, from: 30/s, objective: [error_rate < 1%], precision: 10%, step_duration: 700ms, max_steps: 12}\n",
    );
    let started = Instant::now();
    let report = f.run().unwrap();
    let took = started.elapsed();
    assert_accounted(&report.results);
    let s = &report.searches[0];
    let (pass, fail) = (s.highest_pass.unwrap(), s.lowest_fail.unwrap());
    assert!(
        (340.0..=460.0).contains(&pass) && pass < fail,
        "highest passing {pass}/s, lowest failing {fail}/s, C/D = 400/s: {s:?}"
    );
    assert_eq!(s.model_limit, Some(400.0));
    // 12 × (700 ms + 300 ms) = 12 s, plus draining and writing.
    assert!(took.as_secs_f64() < 12.0 + 10.0, "took {took:?}");
}

/// A server that slows as it fills (5 ms more per request already in
/// service): latency climbs long before requests are refused, so an
/// objective on p99 close to D breaks at a lower rate than one on errors.
/// Both searches run against the same server, in one run. About 15 s.
#[test]
fn a_tight_objective_finds_a_lower_rate_than_a_loose_one() {
    let _alone = util::alone();
    let search = |name: &str, objective: &str| {
        format!("  - name: {name}\n    executor: rate\n    warmup: 200ms\n    search: {{over: rate, from: 20/s, objective: [{objective}], precision: 10%, step_duration: 700ms, max_steps: 10}}\n")
    };
    let f = Fixture::new(&format!(
        "server:\n  delay: 50ms\n  per_in_service: 5ms\n  capacity: 20\n  queue: 5\n  overflow: reject\ncases:\n{}{}",
        search("loose", "error_rate < 1%"),
        search("tight", "p99 < 75ms"),
    ));
    let report = f.run().unwrap();
    assert_accounted(&report.results);
    let [loose, tight] = &report.searches[..] else {
        panic!("two searches: {:?}", report.searches)
    };
    // Errors start where 20 are in service (R = 50 + 19 × 5 ms = 145 ms,
    // λ = 20 / 145 ms ≈ 138/s); p99 passes 75 ms from about 6 in service
    // (λ ≈ 80/s).
    let loose_pass = loose.highest_pass.unwrap();
    assert!(
        (80.0..=220.0).contains(&loose_pass),
        "loose: highest passing {loose_pass}/s: {loose:?}"
    );
    let tight_pass = tight.highest_pass.unwrap_or(0.0);
    assert!(
        tight_pass < loose_pass,
        "tight {tight_pass}/s is not below loose {loose_pass}/s: {tight:?}"
    );
    assert!(tight.broke[0].starts_with("p99 < 75ms"), "{tight:?}");
    assert!(loose.broke[0].starts_with("error_rate < 1%"), "{loose:?}");
}

/// The one-line search (`--search-tasks --objective …`) prints a scenario
/// that runs the same steps. Against a server with C = 10 and no queue, 2,
/// 4 and 8 tasks never see a refusal and 16 always do, so both runs take
/// the same four steps. About 2 s.
#[test]
fn the_one_line_search_round_trips_through_print_scenario() {
    let server = crate::oneline::server(
        "listen: 127.0.0.1:0\ndelay: 50ms\ncapacity: 10\nqueue: 0\noverflow: reject\n",
    );
    let url = format!("http://{}/", server.addr());
    let dir = tempfile::tempdir().unwrap();
    let ([a, _], [info, _]) = crate::oneline::round_trip(
        dir.path(),
        &url,
        &[
            "--search-tasks",
            "--objective",
            "error_rate < 1%",
            "--from",
            "2",
            "--max-steps",
            "4",
            "--step-duration",
            "200ms",
        ],
        false,
    );
    let names: Vec<&str> = a.iter().map(|r| r.case.as_str()).collect();
    assert_eq!(
        names,
        [
            "search-step1-2tasks",
            "search-step2-4tasks",
            "search-step3-8tasks",
            "search-step4-16tasks"
        ]
    );
    let s = &info.searches[0];
    assert_eq!((s.highest_pass, s.lowest_fail), (Some(8.0), Some(16.0)));
    assert_eq!((s.over.as_str(), s.steps, s.converged), ("tasks", 4, false));
}
