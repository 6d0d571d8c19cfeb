//! The queueing model: what a server with mean delay D and capacity C should
//! do under a case, so measurements can be checked against it.
//!
//! Closed loop with N requests in flight: throughput X = min(N, C)/D and
//! latency R = max(D, N·D/C) (Little's law, N = X·R). A count-bounded case
//! of k requests per worker therefore takes k·⌈N/C⌉·D. Open loop at rate λ:
//! utilisation ρ = λ·D/C; below 1 the latency stays D and the throughput is
//! λ, at or above 1 the queue grows without bound and the throughput stops at
//! C/D. A server admits at most C + Q requests (Q the queue bound); the rest
//! are refused at once, so N is capped at C + Q for latency and wall time.
//! Random delays use their mean. The model ignores `per_in_service`
//! slow-down and network time, so it is a floor for latency and a ceiling
//! for throughput.
//!
//! The model also runs backwards: [`ModelView`] recovers D and C for a sweep
//! from `run.json`'s parameters ([`ModelParams`]) or from the summary's
//! model columns, and [`ModelFormula`] draws the model's curve across a
//! sweep for `report`.

use std::collections::BTreeSet;
use std::time::Duration;

pub use crate::results::run_json::ModelParams;
pub use crate::results::Expectation;
use crate::scenario::{Amount, Shape};

/// The server parameters the model needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServerModel {
    /// Mean service time D.
    pub delay: Duration,
    /// Requests served at once C; `None` for unlimited.
    pub capacity: Option<u64>,
    /// Requests that may wait behind a full capacity, Q.
    pub queue: u64,
}

impl ServerModel {
    /// Throughput at most: C/D (infinite when either is unlimited or zero).
    pub fn saturation_throughput(&self) -> f64 {
        match self.capacity {
            Some(c) if !self.delay.is_zero() => c as f64 / self.delay.as_secs_f64(),
            _ => f64::INFINITY,
        }
    }

    /// Utilisation λ·D/C of an open loop at `rate` requests per second (0
    /// for unlimited capacity).
    pub fn utilisation(&self, rate: f64) -> f64 {
        rate / self.saturation_throughput()
    }

    /// Requests the server holds at once (served or queued): C + Q.
    fn admitted(&self, n: u64) -> u64 {
        match self.capacity {
            Some(c) => n.min(c.saturating_add(self.queue)),
            None => n,
        }
    }

    /// Closed loop with `n` requests in flight: (throughput, latency of the
    /// admitted requests).
    pub fn closed(&self, n: u64) -> (f64, Duration) {
        let d = self.delay.as_secs_f64();
        let n = self.admitted(n.max(1)) as f64;
        let (served, stretch) = match self.capacity {
            Some(c) => ((c as f64).min(n), (n / c as f64).max(1.0)),
            None => (n, 1.0),
        };
        let throughput = if d == 0.0 { f64::INFINITY } else { served / d };
        (throughput, self.delay.mul_f64(stretch))
    }

    /// Rounds of service needed for `n` simultaneous requests: ⌈n/C⌉.
    fn waves(&self, n: u64) -> u64 {
        match self.capacity {
            Some(c) => n.div_ceil(c.max(1)),
            None => 1,
        }
    }

    /// The model's expectation for a case shape.
    pub fn expect(&self, shape: &Shape) -> Expectation {
        match *shape {
            Shape::Sequential(amount) | Shape::SingleTask(amount) => self.closed_case(1, amount),
            Shape::Tasks { tasks, per_task } => self.closed_case(u64::from(tasks.get()), per_task),
            Shape::Unbounded { requests } => {
                let n = requests.get();
                let (throughput, _) = self.closed(n);
                Expectation {
                    throughput,
                    latency: self.burst_latency(n),
                    wall: Some(self.delay.mul_f64(self.waves(self.admitted(n)) as f64)),
                    utilisation: None,
                }
            }
            Shape::Rate { rate, .. } => {
                let lambda = rate.per_second();
                Expectation {
                    throughput: lambda.min(self.saturation_throughput()),
                    latency: self.delay,
                    wall: None,
                    utilisation: Some(self.utilisation(lambda)),
                }
            }
        }
    }

    /// Mean latency of `n` requests arriving at once: they are served in
    /// ⌈n/C⌉ waves, so on average they wait (waves + 1)/2 delays.
    pub fn burst_latency(&self, n: u64) -> Duration {
        let waves = self.waves(self.admitted(n.max(1)));
        self.delay.mul_f64((waves as f64 + 1.0) / 2.0)
    }

    fn closed_case(&self, n: u64, amount: Amount) -> Expectation {
        let (throughput, mut latency) = self.closed(n);
        if amount == Amount::Requests(std::num::NonZeroU64::MIN) {
            // One request per worker is a burst, not a steady state.
            latency = self.burst_latency(n);
        }
        let wall = match amount {
            Amount::Requests(k) => {
                let rounds = k.get().saturating_mul(self.waves(self.admitted(n)));
                Some(self.delay.mul_f64(rounds as f64))
            }
            Amount::Time(d) => Some(d),
        };
        Expectation {
            throughput,
            latency,
            wall,
            utilisation: None,
        }
    }
}

impl From<ServerModel> for ModelParams {
    fn from(m: ServerModel) -> ModelParams {
        ModelParams {
            delay_us: u64::try_from(m.delay.as_micros()).unwrap_or(u64::MAX),
            capacity: m.capacity,
            queue: m.queue,
        }
    }
}

impl ModelParams {
    /// The model these parameters describe.
    pub fn server_model(&self) -> ServerModel {
        ServerModel {
            delay: Duration::from_micros(self.delay_us),
            capacity: self.capacity,
            queue: self.queue,
        }
    }
}

/// What a sweep varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SweepKind {
    /// Closed loop: requests in flight.
    Concurrency,
    /// Open loop: target rate.
    Rate,
}

/// Where a sweep's model parameters came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelSource {
    /// The `model` object of `run.json`.
    RunJson,
    /// Recovered from the `model_*` columns of `summary.csv`.
    Summary,
}

/// What is known of the model for one sweep.
///
/// Recovered from the summary's model columns, closed loop (X = min(N, C)/D,
/// R = max(D, N·D/C)): two or more loads sharing the highest model
/// throughput put C/D there; a load below it is unsaturated, so its model
/// latency is D; then C = (C/D)·D. Open loop (X = min(λ, C/D), R = D): a
/// load whose model throughput is below it gives C/D; R is D. What the
/// sweep does not reach stays unknown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelView {
    /// Delay D, µs.
    pub delay_us: Option<f64>,
    /// Capacity C.
    pub capacity: Option<f64>,
    /// Saturation throughput C/D, req/s.
    pub saturation: Option<f64>,
    /// Queue bound Q, when `run.json` gives it.
    pub queue: Option<u64>,
    /// Where these came from.
    pub source: ModelSource,
}

impl ModelView {
    /// The model as `run.json`'s parameters give it.
    pub fn from_params(p: &ModelParams) -> ModelView {
        let saturation = p.server_model().saturation_throughput();
        ModelView {
            delay_us: Some(p.delay_us as f64),
            capacity: p.capacity.map(|c| c as f64),
            saturation: saturation.is_finite().then_some(saturation),
            queue: Some(p.queue),
            source: ModelSource::RunJson,
        }
    }

    /// The model recovered from a sweep's (load, model throughput, model
    /// latency in µs) triples; `None` when there are none.
    pub fn infer(kind: SweepKind, rows: &[(f64, f64, f64)]) -> Option<ModelView> {
        let rows: Vec<(f64, f64, f64)> = rows
            .iter()
            .copied()
            .filter(|(x, t, r)| *x > 0.0 && *t > 0.0 && *r > 0.0)
            .collect();
        if rows.is_empty() {
            return None;
        }
        let (delay_us, saturation) = match kind {
            SweepKind::Concurrency => infer_closed(&rows),
            SweepKind::Rate => infer_open(&rows),
        };
        Some(ModelView {
            delay_us,
            capacity: delay_us
                .zip(saturation)
                .map(|(d, s)| round_near(s * d / 1e6)),
            saturation,
            queue: None,
            source: ModelSource::Summary,
        })
    }

    /// Where the model puts the knee: C (closed loop) or C/D (open loop).
    pub fn expected_knee(&self, kind: SweepKind) -> Option<f64> {
        match kind {
            SweepKind::Concurrency => self.capacity,
            SweepKind::Rate => self.saturation,
        }
    }
}

/// What the model columns tell: (D in µs, C/D in req/s), each if known.
type Inferred = (Option<f64>, Option<f64>);

/// Closed loop (n, X, R in µs) → (D, C/D); see [`ModelView`].
fn infer_closed(rows: &[(f64, f64, f64)]) -> Inferred {
    let top = rows.iter().map(|r| r.1).fold(0.0, f64::max);
    let on_top = |t: f64| t >= top * (1.0 - 1e-6);
    let ceiling: BTreeSet<u64> = rows
        .iter()
        .filter(|r| on_top(r.1))
        .map(|r| r.0.to_bits())
        .collect();
    let saturation = (ceiling.len() >= 2).then_some(top);
    let delay = rows
        .iter()
        .filter(|r| !on_top(r.1) || saturation.is_none())
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|r| r.2);
    (delay, saturation)
}

/// Open loop (λ, X, R in µs) → (D, C/D); see [`ModelView`].
fn infer_open(rows: &[(f64, f64, f64)]) -> Inferred {
    let delay = rows.iter().map(|r| r.2).fold(f64::INFINITY, f64::min);
    let saturation = rows
        .iter()
        .filter(|(rate, x, _)| *x < rate * (1.0 - 1e-6))
        .map(|r| r.1)
        .fold(None, |acc: Option<f64>, x| {
            Some(acc.map_or(x, |a| a.max(x)))
        });
    (delay.is_finite().then_some(delay), saturation)
}

/// `v` rounded to a whole number when it is within 0.1% of one.
fn round_near(v: f64) -> f64 {
    let r = v.round();
    if r > 0.0 && ((v - r) / r).abs() < 1e-3 {
        r
    } else {
        v
    }
}

/// The model at one load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// The load: concurrency or target rate.
    pub x: f64,
    /// Throughput, req/s.
    pub throughput: f64,
    /// Mean latency, ms; `None` in an open loop at or past saturation,
    /// where it grows without bound.
    pub latency_ms: Option<f64>,
}

/// The closed- or open-loop model as a function of the load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelFormula {
    kind: SweepKind,
    server: ServerModel,
}

impl ModelFormula {
    /// The formula for a sweep, when the view knows D (and, in an open
    /// loop, C).
    pub fn new(kind: SweepKind, m: &ModelView) -> Option<ModelFormula> {
        let delay = m.delay_us.filter(|d| *d > 0.0)?;
        let capacity = match kind {
            SweepKind::Concurrency => m.capacity.map(|c| c.round() as u64),
            SweepKind::Rate => Some(m.capacity?.round() as u64),
        };
        Some(ModelFormula {
            kind,
            server: ServerModel {
                delay: Duration::from_secs_f64(delay / 1e6),
                capacity: capacity.filter(|c| *c > 0),
                queue: m.queue.unwrap_or(u64::MAX / 4),
            },
        })
    }

    /// The model at load `x`.
    pub fn at(&self, x: f64) -> Prediction {
        match self.kind {
            SweepKind::Concurrency => {
                let (throughput, latency) = self.server.closed(x.round().max(1.0) as u64);
                Prediction {
                    x,
                    throughput,
                    latency_ms: Some(latency.as_secs_f64() * 1e3),
                }
            }
            SweepKind::Rate => {
                let saturation = self.server.saturation_throughput();
                let latency_ms = (x < saturation).then_some(self.server.delay.as_secs_f64() * 1e3);
                Prediction {
                    x,
                    throughput: x.min(saturation),
                    latency_ms,
                }
            }
        }
    }

    /// Whether a listed prediction (from the summary) is this formula's,
    /// within 1%.
    pub fn agrees_with(&self, listed: &Prediction) -> bool {
        let close = |a: f64, b: f64| (a - b).abs() <= 0.01 * b.abs().max(1e-9);
        let here = self.at(listed.x);
        close(here.throughput, listed.throughput)
            && match (here.latency_ms, listed.latency_ms) {
                (Some(a), Some(b)) => close(a, b),
                _ => true,
            }
    }

    /// 160 log-spaced loads across `loads`, plus the corner at C (or C/D).
    pub fn dense(&self, loads: impl Iterator<Item = f64> + Clone) -> Vec<Prediction> {
        let lo = loads
            .clone()
            .filter(|x| *x > 0.0)
            .fold(f64::INFINITY, f64::min);
        let hi = loads.fold(0.0, f64::max);
        if !(lo.is_finite() && hi > lo) {
            return Vec::new();
        }
        let steps = 160;
        let mut xs: Vec<f64> = (0..=steps)
            .map(|i| lo * (hi / lo).powf(i as f64 / steps as f64))
            .collect();
        let corner = match self.kind {
            SweepKind::Concurrency => self.server.capacity.map(|c| c as f64),
            SweepKind::Rate => Some(self.server.saturation_throughput()),
        };
        xs.extend(corner.filter(|c| *c > lo && *c < hi));
        if self.kind == SweepKind::Concurrency {
            xs.iter_mut().for_each(|x| *x = x.round().max(1.0));
        }
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        xs.into_iter().map(|x| self.at(x)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Rate;
    use std::num::{NonZeroU32, NonZeroU64};

    fn model(ms: u64, capacity: Option<u64>) -> ServerModel {
        ServerModel {
            delay: Duration::from_millis(ms),
            capacity,
            queue: 1000,
        }
    }

    #[test]
    fn the_queue_bound_caps_what_is_admitted() {
        // The seed's unbounded case: C = 100, Q = 1000, 5000 at once.
        let m = model(200, Some(100));
        let e = m.expect(&Shape::Unbounded {
            requests: NonZeroU64::new(5000).unwrap(),
        });
        assert_eq!(e.wall, Some(Duration::from_millis(2200)));
        assert_eq!(e.throughput, 500.0);
        // 11 waves: on average a request waits 6 delays.
        assert_eq!(e.latency, Duration::from_millis(1200));
    }

    #[test]
    fn closed_loop_below_and_above_capacity() {
        let m = model(200, Some(100));
        assert_eq!(m.closed(5), (25.0, Duration::from_millis(200)));
        assert_eq!(m.closed(100), (500.0, Duration::from_millis(200)));
        // 500 in flight against 100 slots: 5 waves, R = 1 s, X stuck at 500/s.
        assert_eq!(m.closed(500), (500.0, Duration::from_secs(1)));
    }

    #[test]
    fn unlimited_capacity_never_queues() {
        let m = model(100, None);
        assert_eq!(m.closed(10_000), (100_000.0, Duration::from_millis(100)));
        assert_eq!(m.saturation_throughput(), f64::INFINITY);
    }

    #[test]
    fn wall_time_of_count_bounded_cases() {
        let m = model(200, Some(2));
        let seq = m.expect(&Shape::Sequential(Amount::Requests(
            NonZeroU64::new(5).unwrap(),
        )));
        assert_eq!(seq.wall, Some(Duration::from_secs(1)));
        let tasks = m.expect(&Shape::Tasks {
            tasks: NonZeroU32::new(10).unwrap(),
            per_task: Amount::Requests(NonZeroU64::new(1).unwrap()),
        });
        assert_eq!(tasks.wall, Some(Duration::from_secs(1)));
        assert_eq!(tasks.latency, Duration::from_millis(600));
        let unbounded = m.expect(&Shape::Unbounded {
            requests: NonZeroU64::new(3).unwrap(),
        });
        assert_eq!(unbounded.wall, Some(Duration::from_millis(400)));
    }

    #[test]
    fn open_loop_utilisation() {
        let m = model(20, Some(100)); // C/D = 5000/s
        let at = |r: f64| {
            m.expect(&Shape::Rate {
                rate: Rate::new(r).unwrap(),
                duration: Duration::from_secs(1),
                max_in_flight: NonZeroU32::new(10).unwrap(),
            })
        };
        assert_eq!(at(2500.0).utilisation, Some(0.5));
        assert_eq!(at(2500.0).throughput, 2500.0);
        assert_eq!(at(10_000.0).utilisation, Some(2.0));
        assert_eq!(at(10_000.0).throughput, 5000.0);
    }

    #[test]
    fn model_parameters_are_recovered_from_the_summary_columns() {
        let m = model(20, Some(100));
        let cases: Vec<(&str, Vec<f64>, Inferred)> = vec![
            (
                "through the knee",
                vec![1.0, 10.0, 100.0, 200.0, 2000.0],
                (Some(20_000.0), Some(5000.0)),
            ),
            (
                "never saturated",
                vec![1.0, 10.0, 50.0],
                (Some(20_000.0), None),
            ),
            (
                "reaching C at the last point only",
                vec![10.0, 50.0, 100.0],
                (Some(20_000.0), None),
            ),
            (
                "always saturated",
                vec![200.0, 500.0, 1000.0],
                (None, Some(5000.0)),
            ),
        ];
        for (name, ns, expected) in cases {
            let triples: Vec<(f64, f64, f64)> = ns
                .iter()
                .map(|&n| {
                    let (x, r) = m.closed(n as u64);
                    (n, x, r.as_micros() as f64)
                })
                .collect();
            assert_eq!(infer_closed(&triples), expected, "{name}");
        }
        // Open loop at 500, 1000, 1500/s against C/D = 1000/s, D = 50 ms.
        let open = [
            (500.0, 500.0, 50_000.0),
            (1000.0, 1000.0, 50_000.0),
            (1500.0, 1000.0, 50_000.0),
        ];
        assert_eq!(infer_open(&open), (Some(50_000.0), Some(1000.0)));
        assert_eq!(infer_open(&open[..2]), (Some(50_000.0), None));
        let view = ModelView::infer(SweepKind::Rate, &open).unwrap();
        assert_eq!(
            (view.capacity, view.source),
            (Some(50.0), ModelSource::Summary)
        );
    }

    #[test]
    fn model_params_round_trip_through_json() {
        let m = model(20, Some(100));
        let params = ModelParams::from(m);
        let json = serde_json::to_string(&params).unwrap();
        assert_eq!(json, r#"{"delay_us":20000,"capacity":100,"queue":1000}"#);
        assert_eq!(
            serde_json::from_str::<ModelParams>(&json)
                .unwrap()
                .server_model(),
            m
        );
        assert_eq!(m.utilisation(2500.0), 0.5);
        assert_eq!(model(20, None).utilisation(2500.0), 0.0);
    }

    #[test]
    fn the_dense_model_curve_has_its_corner_at_c() {
        let view = ModelView::from_params(&ModelParams::from(model(20, Some(100))));
        let formula = ModelFormula::new(SweepKind::Concurrency, &view).unwrap();
        let curve = formula.dense([1.0, 10.0, 50.0, 200.0, 1000.0].into_iter());
        assert!(curve.len() > 100);
        let corner = curve.iter().find(|p| p.x == 100.0).expect("a point at C");
        assert_eq!((corner.throughput, corner.latency_ms), (5000.0, Some(20.0)));
        assert_eq!(curve.last().map(|p| p.latency_ms), Some(Some(200.0)));
    }
}
