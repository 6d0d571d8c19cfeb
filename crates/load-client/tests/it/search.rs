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
