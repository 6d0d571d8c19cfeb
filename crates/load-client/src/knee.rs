//! Knee detection: the load at which a sweep stops gaining throughput.
//!
//! A *sweep* is a set of cases of one base case that differ only in their
//! load `x`: the concurrency (closed loop) or the target rate (open loop).
//! Each [`Point`] holds the load, the measured throughput and a latency.
//!
//! # Definition
//!
//! Let the *level* P be the median of the three highest throughputs, so one
//! noisy high point cannot set it (the *peak*, in messages, is the largest
//! measured throughput). With `gap` = [`KneeConfig::plateau_gap`] (10%), the
//! **plateau start** is the smallest load x_s such that
//!
//! 1. the throughput there is within `gap` of the level: X_s ≥ (1 − gap)·P;
//! 2. at least [`KneeConfig::min_points_after`] (2) points follow it, so the
//!    plateau is seen rather than guessed from a single point;
//! 3. no later point gains more than gap·P over X_s, except one transient
//!    spike that is not the last point;
//! 4. latency rises: the latency at the last point is at least
//!    [`KneeConfig::latency_rise`] (10%) above the latency at x_s
//!    (not checked when a latency is unknown).
//!
//! The **plateau** (saturation throughput) is the median throughput of the
//! points from x_s on that are within `gap` of the peak (so a dip on the
//! plateau, or a fall past saturation, does not drag it down).
//!
//! The **knee** is where the low-load line meets the plateau: with s the
//! throughput per unit of load at light load (the median of X/x over the
//! lowest three points below x_s), the knee is plateau / s, at most x_s.
//! This is the saturation point N* of operational analysis: for a server
//! with capacity C and delay D the closed-loop model X = min(N, C)/D gives
//! s = 1/D, plateau C/D and so a knee at exactly N = C, wherever the sweep's
//! loads fall; an open-loop sweep (s = 1) has its knee at the plateau rate.
//! It does not hinge on the one point nearest to C, where measurements are
//! the most fragile (every slot busy, no queue to absorb a client hiccup).
//! When no point lies below x_s (the sweep starts saturated), the knee is x_s.
//!
//! # Falling past the peak
//!
//! A server may lose throughput under load (contention, thrashing). The
//! sweep **falls past its peak** when at least
//! [`KneeConfig::min_points_after`] points follow the largest throughput
//! and the last of them is more than `gap` below the level P. There is no
//! plateau then, and no median of falling points stands for one: the knee
//! records the [`Fall`], its plateau is the peak as measured, its plateau
//! start the first point within `gap` of that peak, and its load is where
//! the low-load line meets the peak (at most the plateau start, and the
//! first load when no point comes before it). Rule 4 is not checked: in a
//! closed loop, falling throughput at a growing load *is* rising latency.
//!
//! Why this resists noise: a dip while throughput still rises is far below
//! the peak (rule 1) and is followed by higher points (rule 3); a sweep that
//! never saturates keeps gaining until its last point, so rule 3 fails for
//! every candidate, and rule 2 keeps the last two points from being knees.
//!
//! Points are sorted by load first; points at the same load (repetitions)
//! are merged into their median; points with a non-finite or negative load
//! or throughput are dropped. Nothing here panics on any input.

use std::fmt;

/// One measured point of a sweep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// The load: concurrency, or target rate in requests per second.
    pub x: f64,
    /// Successful requests per second.
    pub throughput: f64,
    /// A latency (the report uses p50, µs); `None` when unknown.
    pub latency: Option<f64>,
}

/// The thresholds of the knee definition (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KneeConfig {
    /// How close to the peak throughput the knee must be, and how much a
    /// later point may still gain, as a fraction of the peak.
    pub plateau_gap: f64,
    /// Points that must follow the knee.
    pub min_points_after: usize,
    /// How much the latency must rise from the knee to the last point, as a
    /// fraction of the latency at the knee.
    pub latency_rise: f64,
}

impl Default for KneeConfig {
    fn default() -> KneeConfig {
        KneeConfig {
            plateau_gap: 0.10,
            min_points_after: 2,
            latency_rise: 0.10,
        }
    }
}

/// A knee found in a sweep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Knee {
    /// The load at the knee: where the low-load line meets the plateau.
    pub x: f64,
    /// The smallest measured load on the plateau.
    pub plateau_start: f64,
    /// The saturation throughput: median throughput on the plateau.
    pub plateau: f64,
    /// Points on the plateau (the plateau's support).
    pub plateau_points: usize,
    /// When throughput falls past its peak instead of holding a plateau:
    /// the peak and the last point. `plateau` is then the peak.
    pub fall: Option<Fall>,
}

/// A sweep whose throughput falls past its peak (see the module
/// documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fall {
    /// The load of the largest measured throughput.
    pub peak_x: f64,
    /// The largest measured throughput.
    pub peak: f64,
    /// The largest load of the sweep.
    pub last_x: f64,
    /// The throughput there.
    pub last: f64,
}

/// Why a sweep has no knee.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NoKnee {
    /// Fewer usable points than the definition needs.
    TooFewPoints {
        /// Usable points (distinct loads).
        points: usize,
        /// Points needed: the knee plus [`KneeConfig::min_points_after`].
        needed: usize,
    },
    /// No point has a positive throughput.
    NoThroughput,
    /// Throughput still grows at the end of the sweep.
    StillRising {
        /// The largest load of the sweep.
        last_x: f64,
        /// The largest measured throughput.
        peak: f64,
    },
    /// Throughput levels off at `x`, but too few points follow to tell a
    /// plateau from a noisy point.
    PlateauTooShort {
        /// Where the throughput levels off.
        x: f64,
        /// Points after it.
        after: usize,
        /// Points needed after it ([`KneeConfig::min_points_after`]).
        needed: usize,
    },
    /// Throughput levels off from `x` on, but latency does not rise, so it
    /// is not saturation (the load generator itself may be the limit).
    LatencyFlat {
        /// Where the throughput levels off.
        x: f64,
    },
}

impl fmt::Display for NoKnee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            NoKnee::TooFewPoints { points, needed } => {
                write!(
                    f,
                    "too few points ({points}; a knee needs at least {needed})"
                )
            }
            NoKnee::NoThroughput => write!(f, "no request succeeded"),
            NoKnee::StillRising { last_x, peak } => write!(
                f,
                "throughput still rising at the largest load ({}), peak {peak:.0} req/s",
                format_load(last_x)
            ),
            NoKnee::PlateauTooShort { x, after, needed } => {
                let follow = if after == 1 {
                    "load follows"
                } else {
                    "loads follow"
                };
                write!(
                    f,
                    "throughput levels off at {} but only {after} larger {follow}; a plateau needs {needed}",
                    format_load(x)
                )
            }
            NoKnee::LatencyFlat { x } => write!(
                f,
                "throughput levels off from {} but latency does not rise",
                format_load(x)
            ),
        }
    }
}

/// A load as a short number: `100`, `2.5`, `1500`.
pub fn format_load(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// Finds the knee of a sweep (see the module documentation).
pub fn find_knee(points: &[Point], config: &KneeConfig) -> Result<Knee, NoKnee> {
    let points = prepare(points);
    let needed = config.min_points_after + 1;
    if points.len() < needed.max(3) {
        return Err(NoKnee::TooFewPoints {
            points: points.len(),
            needed: needed.max(3),
        });
    }
    let peak = level(&points);
    if peak <= 0.0 {
        return Err(NoKnee::NoThroughput);
    }
    if let Some(fall) = falls_past_peak(&points, peak, config) {
        return Ok(falling_knee(&points, fall, config));
    }
    let last = points.len() - 1;
    let mut levels_off_at = None;
    for k in 0..last {
        if !on_plateau(&points, k, peak, config) {
            continue;
        }
        if last - k < config.min_points_after {
            return Err(levels_off_at.map_or(
                NoKnee::PlateauTooShort {
                    x: points[k].x,
                    after: last - k,
                    needed: config.min_points_after,
                },
                |x| NoKnee::LatencyFlat { x },
            ));
        }
        if latency_rises(&points, k, config) {
            return Ok(knee_at(&points, k, peak, config));
        }
        levels_off_at.get_or_insert(points[k].x);
    }
    Err(match levels_off_at {
        Some(x) => NoKnee::LatencyFlat { x },
        None => NoKnee::StillRising {
            last_x: points[last].x,
            peak: highest(&points).throughput,
        },
    })
}

/// Drops unusable points, sorts by load and merges equal loads by median.
pub fn prepare(points: &[Point]) -> Vec<Point> {
    let mut usable: Vec<Point> = points
        .iter()
        .filter(|p| {
            p.x.is_finite() && p.x >= 0.0 && p.throughput.is_finite() && p.throughput >= 0.0
        })
        .map(|p| Point {
            latency: p.latency.filter(|l| l.is_finite() && *l >= 0.0),
            ..*p
        })
        .collect();
    usable.sort_by(|a, b| a.x.total_cmp(&b.x));
    let mut merged = Vec::new();
    for group in usable.chunk_by(|a, b| a.x == b.x) {
        let throughputs: Vec<f64> = group.iter().map(|p| p.throughput).collect();
        let latencies: Vec<f64> = group.iter().filter_map(|p| p.latency).collect();
        merged.push(Point {
            x: group[0].x,
            throughput: median(&throughputs).unwrap_or(0.0),
            latency: median(&latencies),
        });
    }
    merged
}

/// Median of the values (mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 0 {
        v[mid - 1] / 2.0 + v[mid] / 2.0
    } else {
        v[mid]
    })
}

/// The point of the largest throughput (the first, if several); `points`
/// is not empty.
fn highest(points: &[Point]) -> Point {
    points.iter().fold(points[0], |best, p| {
        if p.throughput > best.throughput {
            *p
        } else {
            best
        }
    })
}

/// The fall past the peak, if the sweep has one: enough points after the
/// largest throughput, and the last more than the gap below the level.
fn falls_past_peak(points: &[Point], level: f64, config: &KneeConfig) -> Option<Fall> {
    let top = highest(points);
    let last = *points.last()?;
    let after = points.iter().filter(|p| p.x > top.x).count();
    (after >= config.min_points_after && last.throughput < level * (1.0 - config.plateau_gap))
        .then_some(Fall {
            peak_x: top.x,
            peak: top.throughput,
            last_x: last.x,
            last: last.throughput,
        })
}

/// The knee of a falling sweep: its plateau is the peak as measured.
fn falling_knee(points: &[Point], fall: Fall, config: &KneeConfig) -> Knee {
    let floor = fall.peak * (1.0 - config.plateau_gap);
    let k = points
        .iter()
        .position(|p| p.throughput >= floor)
        .unwrap_or(0);
    let plateau_points = points[k..].iter().filter(|p| p.throughput >= floor).count();
    Knee {
        x: meeting_point(points, k, fall.peak),
        plateau_start: points[k].x,
        plateau: fall.peak,
        plateau_points,
        fall: Some(fall),
    }
}

/// The median of the three highest throughputs.
fn level(points: &[Point]) -> f64 {
    let mut top: Vec<f64> = points.iter().map(|p| p.throughput).collect();
    top.sort_by(|a, b| b.total_cmp(a));
    top.truncate(3);
    median(&top).unwrap_or(0.0)
}

/// Rules 1 and 3: point `k` is near the peak and nothing later gains more
/// than the gap, but for one spike before the last point.
fn on_plateau(points: &[Point], k: usize, peak: f64, config: &KneeConfig) -> bool {
    let gap = config.plateau_gap * peak;
    let here = points[k].throughput;
    if here < peak - gap {
        return false;
    }
    let later = &points[k + 1..];
    let above: Vec<usize> = (0..later.len())
        .filter(|&j| later[j].throughput > here + gap)
        .collect();
    match above.as_slice() {
        [] => true,
        [j] => *j + 1 < later.len(),
        _ => false,
    }
}

/// Rule 4: the latency at the last point is clearly above the knee's.
fn latency_rises(points: &[Point], k: usize, config: &KneeConfig) -> bool {
    let at_knee = points[k].latency;
    let at_end = points.last().and_then(|p| p.latency);
    match (at_knee, at_end) {
        (Some(a), Some(b)) => b >= a * (1.0 + config.latency_rise),
        _ => true,
    }
}

fn knee_at(points: &[Point], k: usize, peak: f64, config: &KneeConfig) -> Knee {
    let floor = peak * (1.0 - config.plateau_gap);
    let on: Vec<f64> = points[k..]
        .iter()
        .map(|p| p.throughput)
        .filter(|&t| t >= floor)
        .collect();
    let plateau = median(&on).unwrap_or(points[k].throughput);
    Knee {
        x: meeting_point(points, k, plateau),
        plateau_start: points[k].x,
        plateau,
        plateau_points: on.len(),
        fall: None,
    }
}

/// Where the low-load line (the median of X/x over the lowest three points
/// before `k`) reaches `level`: at most the load of point `k`, and that
/// load when no point comes before it.
fn meeting_point(points: &[Point], k: usize, level: f64) -> f64 {
    let start = points[k].x;
    let lowest: Vec<f64> = points[..k]
        .iter()
        .filter(|p| p.x > 0.0 && p.throughput > 0.0)
        .take(3)
        .map(|p| p.throughput / p.x)
        .collect();
    median(&lowest)
        .map(|slope| level / slope)
        .filter(|x| x.is_finite() && *x > 0.0)
        .map_or(start, |x| x.min(start))
}

/// A measured value beside the model's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio {
    /// What was measured.
    pub measured: f64,
    /// What the model expects.
    pub model: f64,
}

impl Ratio {
    /// A comparison, when the model's value is a positive finite number.
    pub fn new(measured: f64, model: f64) -> Option<Ratio> {
        (model.is_finite() && model > 0.0 && measured.is_finite())
            .then_some(Ratio { measured, model })
    }

    /// Measured over model: 1.0 is as predicted.
    pub fn ratio(&self) -> f64 {
        self.measured / self.model
    }

    /// Whether the measured value is within `fraction` of the model's.
    pub fn within(&self, fraction: f64) -> bool {
        (self.ratio() - 1.0).abs() <= fraction
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A closed-loop sweep: throughput `x` at each concurrency `n`, latency
    /// from Little's law (N = X·R).
    fn sweep(data: &[(f64, f64)]) -> Vec<Point> {
        data.iter()
            .map(|&(n, x)| Point {
                x: n,
                throughput: x,
                latency: (x > 0.0).then(|| n / x * 1e6),
            })
            .collect()
    }

    /// The model with C = 100, D = 20 ms at the saturation sweep's points,
    /// each throughput multiplied by the matching noise factor.
    fn model_sweep(noise: &[f64]) -> Vec<Point> {
        let ns = [
            1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0,
        ];
        let data: Vec<(f64, f64)> = ns
            .iter()
            .zip(noise.iter().chain(std::iter::repeat(&1.0)))
            .map(|(&n, &k)| (n, f64::min(n, 100.0) / 0.020 * k))
            .collect();
        sweep(&data)
    }

    #[test]
    fn knees_of_synthetic_sweeps() {
        let config = KneeConfig::default();
        let still = |last_x, peak| Err(NoKnee::StillRising { last_x, peak });
        let table: Vec<(&str, Vec<Point>, Result<f64, NoKnee>)> = vec![
            ("clean knee at C", model_sweep(&[]), Ok(100.0)),
            (
                "noisy knee",
                model_sweep(&[
                    1.04, 0.95, 1.05, 0.97, 1.03, 0.96, 0.97, 1.04, 0.95, 1.02, 0.97,
                ]),
                Ok(100.0),
            ),
            (
                "a dip while rising is not a knee",
                sweep(&[
                    (1.0, 50.0),
                    (2.0, 100.0),
                    (4.0, 200.0),
                    (8.0, 150.0),
                    (16.0, 800.0),
                    (32.0, 1600.0),
                    (64.0, 3200.0),
                ]),
                still(64.0, 3200.0),
            ),
            (
                "a dip on the plateau does not move the knee",
                model_sweep(&[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.80, 1.0, 1.0]),
                Ok(100.0),
            ),
            (
                "one spike on the plateau does not move the knee",
                model_sweep(&[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.3, 1.0, 1.0]),
                Ok(100.0),
            ),
            (
                "no knee: linear to the end",
                sweep(&[
                    (1.0, 50.0),
                    (10.0, 500.0),
                    (100.0, 5000.0),
                    (1000.0, 50_000.0),
                ]),
                still(1000.0, 50_000.0),
            ),
            (
                "one flat point at the end is not a plateau",
                sweep(&[(1.0, 50.0), (10.0, 500.0), (100.0, 5000.0), (200.0, 5000.0)]),
                Err(NoKnee::PlateauTooShort {
                    x: 100.0,
                    after: 1,
                    needed: 2,
                }),
            ),
            (
                "a dip at the very end is not a plateau either",
                sweep(&[
                    (1.0, 50.0),
                    (10.0, 500.0),
                    (100.0, 5000.0),
                    (1000.0, 4800.0),
                ]),
                Err(NoKnee::PlateauTooShort {
                    x: 100.0,
                    after: 1,
                    needed: 2,
                }),
            ),
            (
                "falling throughput past the knee",
                sweep(&[
                    (10.0, 500.0),
                    (100.0, 5000.0),
                    (200.0, 4500.0),
                    (400.0, 3000.0),
                    (800.0, 1500.0),
                ]),
                Ok(100.0),
            ),
            (
                "saturated from the first point",
                sweep(&[(200.0, 5000.0), (400.0, 5000.0), (800.0, 5000.0)]),
                Ok(200.0),
            ),
            (
                "between grid points the knee is the first point near the plateau",
                model_sweep(&[])
                    .into_iter()
                    .map(|p| Point {
                        throughput: p.throughput.min(3500.0),
                        ..p
                    })
                    .collect(),
                Ok(100.0),
            ),
            (
                "too few points",
                sweep(&[(1.0, 50.0), (2.0, 100.0)]),
                Err(NoKnee::TooFewPoints {
                    points: 2,
                    needed: 3,
                }),
            ),
            (
                "no points",
                vec![],
                Err(NoKnee::TooFewPoints {
                    points: 0,
                    needed: 3,
                }),
            ),
            (
                "nothing succeeded",
                sweep(&[(1.0, 0.0), (2.0, 0.0), (4.0, 0.0)]),
                Err(NoKnee::NoThroughput),
            ),
        ];
        for (name, points, expected) in table {
            let got = find_knee(&points, &config).map(|k| k.plateau_start);
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn the_knee_is_where_the_low_load_line_meets_the_plateau() {
        let capped = |cap: f64| -> Vec<Point> {
            model_sweep(&[])
                .into_iter()
                .map(|p| Point {
                    throughput: p.throughput.min(cap),
                    ..p
                })
                .collect()
        };
        let slow_at_c = model_sweep(&[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.78, 0.93, 0.92, 0.93, 0.92]);
        let table: Vec<(&str, Vec<Point>, f64, f64)> = vec![
            ("exactly C on the model", model_sweep(&[]), 100.0, 100.0),
            (
                "C = 70 between grid points 50 and 100",
                capped(3500.0),
                70.0,
                100.0,
            ),
            (
                "a slow point at C moves the plateau start, not the knee",
                slow_at_c,
                92.5,
                200.0,
            ),
            (
                "noisy",
                model_sweep(&[
                    1.04, 0.95, 1.05, 0.97, 1.03, 0.96, 0.97, 1.04, 0.95, 1.02, 0.97,
                ]),
                4850.0 / 52.0,
                100.0,
            ),
            (
                "falling past the knee: the low-load line meets the peak",
                sweep(&[
                    (10.0, 500.0),
                    (100.0, 5000.0),
                    (200.0, 4500.0),
                    (400.0, 3000.0),
                    (800.0, 1500.0),
                ]),
                100.0,
                100.0,
            ),
            (
                "no point below the plateau",
                sweep(&[(200.0, 5000.0), (400.0, 5000.0), (800.0, 5000.0)]),
                200.0,
                200.0,
            ),
        ];
        for (name, points, knee, start) in table {
            let got = find_knee(&points, &KneeConfig::default())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                (got.x - knee).abs() < 1e-6,
                "{name}: knee {} != {knee}",
                got.x
            );
            assert_eq!(got.plateau_start, start, "{name}");
        }
    }

    #[test]
    fn falls_past_the_peak_name_the_measured_peak() {
        let fall = |peak_x, peak, last_x, last| {
            Some(Fall {
                peak_x,
                peak,
                last_x,
                last,
            })
        };
        /// Name, points, the fall, knee load, plateau start, plateau.
        type Row<'a> = (&'a str, Vec<Point>, Option<Fall>, f64, f64, f64);
        let table: Vec<Row> = vec![
            (
                "seen: falls from the first point (1952, 1456, 1131 at 1, 4, 16 tasks)",
                sweep(&[(1.0, 1952.0), (4.0, 1456.0), (16.0, 1131.0)]),
                fall(1.0, 1952.0, 16.0, 1131.0),
                1.0,
                1.0,
                1952.0,
            ),
            (
                "rises, peaks, falls",
                sweep(&[
                    (10.0, 500.0),
                    (100.0, 5000.0),
                    (200.0, 4500.0),
                    (400.0, 3000.0),
                    (800.0, 1500.0),
                ]),
                fall(100.0, 5000.0, 800.0, 1500.0),
                100.0,
                100.0,
                5000.0,
            ),
            (
                "a point just below the peak starts the plateau",
                sweep(&[
                    (1.0, 100.0),
                    (2.0, 200.0),
                    (4.0, 380.0),
                    (8.0, 400.0),
                    (16.0, 300.0),
                    (32.0, 200.0),
                ]),
                fall(8.0, 400.0, 32.0, 200.0),
                4.0,
                4.0,
                400.0,
            ),
            (
                "one spike then a plateau is not a fall",
                model_sweep(&[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.3, 1.0, 1.0]),
                None,
                100.0,
                100.0,
                5000.0,
            ),
            (
                "a slow decline within the gap is a plateau",
                sweep(&[
                    (1.0, 50.0),
                    (10.0, 500.0),
                    (100.0, 5000.0),
                    (200.0, 4900.0),
                    (400.0, 4700.0),
                ]),
                None,
                98.0,
                100.0,
                4900.0,
            ),
        ];
        for (name, points, expected, x, start, plateau) in table {
            let knee = find_knee(&points, &KneeConfig::default())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(knee.fall, expected, "{name}");
            assert!((knee.x - x).abs() < 1e-6, "{name}: knee {} != {x}", knee.x);
            assert_eq!(knee.plateau_start, start, "{name}");
            assert!(
                (knee.plateau - plateau).abs() < 1e-6,
                "{name}: plateau {} != {plateau}",
                knee.plateau
            );
        }
        // A fall needs two points after the peak, like a plateau.
        assert_eq!(
            find_knee(
                &sweep(&[
                    (1.0, 50.0),
                    (10.0, 500.0),
                    (100.0, 5000.0),
                    (1000.0, 1000.0)
                ]),
                &KneeConfig::default()
            ),
            Err(NoKnee::PlateauTooShort {
                x: 100.0,
                after: 1,
                needed: 2
            })
        );
    }

    #[test]
    fn the_plateau_is_the_median_at_and_after_the_knee() {
        let knee = find_knee(
            &model_sweep(&[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.90, 0.93, 0.95, 0.94, 0.96]),
            &KneeConfig::default(),
        )
        .unwrap();
        assert_eq!(knee.plateau_start, 100.0);
        assert_eq!(knee.plateau_points, 5);
        assert!((knee.plateau - 4700.0).abs() < 1e-6, "{}", knee.plateau);
    }

    #[test]
    fn flat_throughput_with_flat_latency_is_not_saturation() {
        let points: Vec<Point> = [1.0, 2.0, 4.0, 8.0]
            .iter()
            .map(|&n| Point {
                x: n,
                throughput: 1000.0,
                latency: Some(500.0),
            })
            .collect();
        assert_eq!(
            find_knee(&points, &KneeConfig::default()),
            Err(NoKnee::LatencyFlat { x: 1.0 })
        );
    }

    #[test]
    fn repetitions_merge_and_junk_is_dropped() {
        let p = |x: f64, t: f64| Point {
            x,
            throughput: t,
            latency: None,
        };
        let points = [
            p(2.0, 10.0),
            p(1.0, 5.0),
            p(2.0, 30.0),
            p(2.0, 20.0),
            p(f64::NAN, 1.0),
            p(3.0, f64::INFINITY),
            p(-1.0, 1.0),
        ];
        assert_eq!(prepare(&points), vec![p(1.0, 5.0), p(2.0, 20.0)]);
    }

    #[test]
    fn ratios_against_the_model() {
        let r = Ratio::new(4652.0, 5000.0).unwrap();
        assert!((r.ratio() - 0.9304).abs() < 1e-9);
        assert!(r.within(0.10));
        assert!(!r.within(0.05));
        assert_eq!(Ratio::new(1.0, 0.0), None);
        assert_eq!(Ratio::new(1.0, f64::INFINITY), None);
        assert_eq!(Ratio::new(f64::NAN, 1.0), None);
    }

    #[test]
    fn messages_and_loads() {
        assert_eq!(format_load(100.0), "100");
        assert_eq!(format_load(2.5), "2.5");
        assert_eq!(
            NoKnee::StillRising {
                last_x: 2000.0,
                peak: 4652.4
            }
            .to_string(),
            "throughput still rising at the largest load (2000), peak 4652 req/s"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_points_give_an_answer_without_panic(
            raw in proptest::collection::vec((proptest::num::f64::ANY, proptest::num::f64::ANY, proptest::option::of(proptest::num::f64::ANY)), 0..20),
        ) {
            let points: Vec<Point> = raw.into_iter().map(|(x, throughput, latency)| Point { x, throughput, latency }).collect();
            if let Ok(knee) = find_knee(&points, &KneeConfig::default()) {
                proptest::prop_assert!(knee.plateau.is_finite());
            }
        }
    }
}
