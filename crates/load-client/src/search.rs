//! The adaptive search for the highest load that meets an objective, as a
//! pure algorithm: the caller injects "run one step at this load" and gets
//! back the answer, so the search is tested without a server or a clock.
//!
//! # The search
//!
//! 1. **Grow.** Run `from`, then twice the load, four times, … until a step
//!    fails the objective (or the load cannot grow past its upper bound). If
//!    the very first step fails, halve instead until one passes (or the load
//!    cannot shrink past its lower bound).
//! 2. **Bisect** between the highest passing load `pass` and the lowest
//!    failing one `fail`: run the middle, move `pass` or `fail` to it, until
//!    `(fail - pass) / pass <= precision`. Over tasks the loads are whole
//!    numbers: the middle is rounded down, and the search also ends when
//!    `fail = pass + 1`.
//!
//! Every step, re-runs included, counts against `max_steps`, so the total
//! time is at most `max_steps` steps. When the steps run out the answer is
//! the bracket reached so far, marked not converged.
//!
//! # Noise
//!
//! A single step that fails by a fluke (a GC pause, a neighbour's build)
//! would end the growth early and put the answer far too low. With
//! `confirm`, a failing step is run once more at the same load before it is
//! believed: the load counts as failing only when both runs fail; if the
//! re-run passes, the load counts as passing. A passing step is believed at
//! once (an objective is rarely met by chance). When no step is left for the
//! re-run, the failure is believed.

/// How a search runs; every load is in the unit of what it varies
/// (requests per second, or tasks).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// The first load tried.
    pub from: f64,
    /// The lowest load the search may try.
    pub min: f64,
    /// The highest load the search may try.
    pub max: f64,
    /// Stop when `(fail - pass) / pass` is at most this fraction.
    pub precision: f64,
    /// Most steps run, re-runs included.
    pub max_steps: u32,
    /// Re-run a failing step once before believing it.
    pub confirm: bool,
    /// Loads are whole numbers (tasks).
    pub integer: bool,
}

/// One step the search asks the caller to run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// 1-based number of the step in the search.
    pub number: u32,
    /// The load to run at.
    pub load: f64,
    /// Whether this step re-runs a failing one at the same load.
    pub confirming: bool,
}

/// What one step showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every part of the objective held.
    Pass,
    /// These parts of the objective (as written, in objective order) failed.
    Fail(Vec<String>),
}

/// Where a search ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    /// The highest load that passed; `None` when none did.
    pub highest_pass: Option<f64>,
    /// The lowest load that failed (confirmed); `None` when none did.
    pub lowest_fail: Option<f64>,
    /// The parts of the objective that failed at `lowest_fail`.
    pub broke: Vec<String>,
    /// Steps run, re-runs included.
    pub steps: u32,
    /// Whether the bracket reached the precision (or, over tasks, adjacent
    /// counts, or a bound of the load).
    pub converged: bool,
    /// Whether the caller stopped the search (Ctrl-C).
    pub stopped: bool,
}

/// Runs the search. `run` runs one step and returns its outcome, or `None`
/// to stop the search at once (the run was interrupted).
pub fn search(plan: &Plan, mut run: impl FnMut(Step) -> Option<Outcome>) -> Answer {
    let mut s = State {
        plan,
        answer: Answer::default(),
    };
    let shape = |load: f64| runnable(plan, load);
    let mut load = shape(plan.from.clamp(plan.min, plan.max));
    // Grow (or shrink) geometrically until the objective changes side.
    loop {
        let Some(passed) = s.judge(load, &mut run) else {
            return s.answer;
        };
        let next = if passed { load * 2.0 } else { load / 2.0 };
        let next = shape(next.clamp(plan.min, plan.max));
        let bracketed = s.answer.highest_pass.is_some() && s.answer.lowest_fail.is_some();
        if bracketed {
            break;
        }
        if next == load {
            // Cannot go further: the limit is past a bound of the load.
            s.answer.converged = true;
            return s.answer;
        }
        load = next;
    }
    // Bisect.
    while let (Some(pass), Some(fail)) = (s.answer.highest_pass, s.answer.lowest_fail) {
        if (fail - pass) / pass <= plan.precision {
            s.answer.converged = true;
            break;
        }
        let middle = shape((pass + fail) / 2.0);
        if middle <= pass || middle >= fail {
            s.answer.converged = true;
            break;
        }
        if s.judge(middle, &mut run).is_none() {
            break;
        }
    }
    s.answer
}

/// A load rounded to what the search can run: whole tasks, or any rate.
fn runnable(plan: &Plan, load: f64) -> f64 {
    if plan.integer {
        load.floor().max(plan.min)
    } else {
        load
    }
}

struct State<'a> {
    plan: &'a Plan,
    answer: Answer,
}

impl State<'_> {
    /// Runs `load` (and its confirmation) and records the verdict: `Some(true)`
    /// passing, `Some(false)` failing, `None` when out of steps or stopped.
    fn judge(&mut self, load: f64, run: &mut impl FnMut(Step) -> Option<Outcome>) -> Option<bool> {
        let mut outcome = self.step(load, false, run)?;
        if let Outcome::Fail(_) = outcome {
            if self.plan.confirm && self.answer.steps < self.plan.max_steps {
                outcome = self.step(load, true, run)?;
            }
        }
        let a = &mut self.answer;
        Some(match outcome {
            Outcome::Pass => {
                a.highest_pass = Some(a.highest_pass.map_or(load, |p| p.max(load)));
                true
            }
            Outcome::Fail(broke) => {
                if a.lowest_fail.is_none_or(|f| load < f) {
                    a.lowest_fail = Some(load);
                    a.broke = broke;
                }
                false
            }
        })
    }

    fn step(
        &mut self,
        load: f64,
        confirming: bool,
        run: &mut impl FnMut(Step) -> Option<Outcome>,
    ) -> Option<Outcome> {
        if self.answer.steps >= self.plan.max_steps {
            return None;
        }
        self.answer.steps += 1;
        let outcome = run(Step {
            number: self.answer.steps,
            load,
            confirming,
        });
        if outcome.is_none() {
            self.answer.stopped = true;
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(from: f64, integer: bool) -> Plan {
        Plan {
            from,
            min: 1.0,
            max: 1e7,
            precision: 0.05,
            max_steps: 40,
            confirm: true,
            integer,
        }
    }

    /// A service that meets the objective up to `limit` and not past it.
    fn service(limit: f64) -> impl FnMut(Step) -> Option<Outcome> {
        move |step| {
            Some(if step.load <= limit {
                Outcome::Pass
            } else {
                Outcome::Fail(vec!["p99 < 200ms".into()])
            })
        }
    }

    #[test]
    fn finds_the_limit_within_precision() {
        for (from, limit) in [
            (100.0, 200.0),
            (100.0, 1234.5),
            (25.0, 200.0),
            (1000.0, 37.0),
            (1.0, 5_000_000.0),
            (100.0, 100.0),
        ] {
            let a = search(&plan(from, false), service(limit));
            let (pass, fail) = (a.highest_pass.unwrap(), a.lowest_fail.unwrap());
            assert!(a.converged, "{from} → {limit}: {a:?}");
            assert!(pass <= limit && limit < fail, "{from} → {limit}: {a:?}");
            assert!((fail - pass) / pass <= 0.05, "{from} → {limit}: {a:?}");
            assert_eq!(a.broke, ["p99 < 200ms"]);
        }
    }

    #[test]
    fn a_failure_is_confirmed_before_it_is_believed() {
        // The service fails the objective once, at its third step, by noise.
        let mut inner = service(800.0);
        let mut runs = Vec::new();
        let noisy = |step: Step| {
            runs.push((step.load, step.confirming));
            if step.number == 3 {
                return Some(Outcome::Fail(vec!["error_rate < 1%".into()]));
            }
            inner(step)
        };
        let a = search(&plan(100.0, false), noisy);
        // 100, 200, 400 (noise), 400 again (passes), 800, 1600, …
        assert_eq!(
            runs[..5],
            [
                (100.0, false),
                (200.0, false),
                (400.0, false),
                (400.0, true),
                (800.0, false)
            ]
        );
        let (pass, fail) = (a.highest_pass.unwrap(), a.lowest_fail.unwrap());
        assert!(
            pass <= 800.0 && 800.0 < fail && (fail - pass) / pass <= 0.05,
            "{a:?}"
        );
        assert_eq!(a.broke, ["p99 < 200ms"]);

        // Without confirmation the noise ends the growth at 400.
        let mut unconfirmed = plan(100.0, false);
        unconfirmed.confirm = false;
        let mut inner = service(800.0);
        let a = search(&unconfirmed, |step: Step| {
            if step.number == 3 {
                return Some(Outcome::Fail(vec!["error_rate < 1%".into()]));
            }
            inner(step)
        });
        assert_eq!(a.lowest_fail, Some(400.0), "{a:?}");
    }

    #[test]
    fn max_steps_bounds_the_search() {
        for max_steps in [1, 2, 5, 9] {
            let mut p = plan(1.0, false);
            p.max_steps = max_steps;
            let mut runs = 0;
            let mut inner = service(1_000_000.0);
            let a = search(&p, |step| {
                runs += 1;
                inner(step)
            });
            assert_eq!(runs, max_steps);
            assert_eq!(a.steps, max_steps);
            assert!(!a.converged, "{a:?}");
            assert_eq!(a.highest_pass, Some(2f64.powi(max_steps as i32 - 1)));
        }
    }

    #[test]
    fn tasks_are_whole_numbers_and_the_bisection_ends() {
        for (from, limit) in [
            (1.0, 10.0),
            (4.0, 7.0),
            (2.0, 1.0),
            (3.0, 100.0),
            (1.0, 1.0),
        ] {
            let mut p = plan(from, true);
            p.precision = 0.001;
            let mut loads = Vec::new();
            let mut inner = service(limit);
            let a = search(&p, |step| {
                loads.push(step.load);
                inner(step)
            });
            assert!(loads.iter().all(|l| l.fract() == 0.0), "{loads:?}");
            assert!(a.converged, "{from} → {limit}: {a:?}");
            assert_eq!(a.highest_pass, Some(limit), "{a:?}");
            assert_eq!(a.lowest_fail, Some(limit + 1.0), "{a:?}");
        }
    }

    #[test]
    fn a_limit_below_the_lowest_load_or_above_the_highest_ends() {
        let a = search(&plan(8.0, true), service(0.0));
        assert_eq!((a.highest_pass, a.lowest_fail), (None, Some(1.0)));
        assert!(a.converged, "{a:?}");
        let mut p = plan(100.0, false);
        p.max = 1000.0;
        let a = search(&p, service(1e9));
        assert_eq!((a.highest_pass, a.lowest_fail), (Some(1000.0), None));
        assert!(a.converged, "{a:?}");
    }

    #[test]
    fn stopping_ends_the_search_at_once() {
        let a = search(&plan(1.0, false), |step| {
            (step.number < 3).then_some(Outcome::Pass)
        });
        assert!(a.stopped && !a.converged, "{a:?}");
        assert_eq!(a.steps, 3);
        assert_eq!(a.highest_pass, Some(2.0));
    }
}
