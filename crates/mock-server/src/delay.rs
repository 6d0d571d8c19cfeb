//! Delay models: how long a request stays in service before it is answered.
//!
//! A model is written as a fixed duration (`200ms`) or as a distribution
//! (`uniform(10ms, 30ms)`, `normal(20ms, 5ms)`, `exponential(20ms)`,
//! `lognormal(20ms, 100ms)`). The same text is accepted by the `--delay` flag
//! and the `delay:` field of a YAML configuration. Parsing checks every
//! parameter, so a [`DelayModel`] obtained from text is always usable; draws
//! are never negative and never panic, whatever the parameters.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, Exp, LogNormal, Normal};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::duration;

/// The z-score of the 99th percentile of the standard normal distribution.
const Z_P99: f64 = 2.326_347_874_040_841;

/// No single draw is longer than this; it keeps extreme tails representable.
const MAX_DRAW: Duration = Duration::from_secs(365 * 86_400);

/// The grammar, quoted in every parse error.
const EXPECTED: &str = "expected a duration such as 200ms, or uniform(min, max), normal(mean, stddev), exponential(mean), lognormal(median, p99)";

/// How long a request is held in service.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DelayModel {
    /// Always the same delay.
    Fixed(Duration),
    /// Uniform between `min` and `max` (inclusive).
    Uniform {
        /// Shortest delay.
        min: Duration,
        /// Longest delay.
        max: Duration,
    },
    /// Normal with the given mean and standard deviation; draws below zero
    /// become zero.
    Normal {
        /// Mean of the distribution before it is cut at zero.
        mean: Duration,
        /// Standard deviation.
        stddev: Duration,
    },
    /// Exponential with the given mean (memoryless service times).
    Exponential {
        /// Mean delay.
        mean: Duration,
    },
    /// Log-normal given by its median and its 99th percentile.
    LogNormal {
        /// Half of the draws are shorter than this.
        median: Duration,
        /// 99 % of the draws are shorter than this.
        p99: Duration,
    },
}

/// Why a delay model could not be parsed; the message quotes the grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid delay {input:?}: {reason}; {EXPECTED}")]
pub struct DelayError {
    /// The text that was given.
    pub input: String,
    /// What in particular was wrong with it.
    pub reason: String,
}

impl Default for DelayModel {
    fn default() -> Self {
        DelayModel::Fixed(Duration::ZERO)
    }
}

impl DelayModel {
    /// The mean delay of the model. For `normal` it accounts for the draws
    /// that are cut at zero; for `lognormal` it is `median * exp(sigma^2 / 2)`.
    pub fn mean(&self) -> Duration {
        let seconds = match *self {
            DelayModel::Fixed(d) => d.as_secs_f64(),
            DelayModel::Uniform { min, max } => (min.as_secs_f64() + max.as_secs_f64()) / 2.0,
            DelayModel::Normal { mean, stddev } => {
                rectified_normal_mean(mean.as_secs_f64(), stddev.as_secs_f64())
            }
            DelayModel::Exponential { mean } => mean.as_secs_f64(),
            DelayModel::LogNormal { median, p99 } => {
                let sigma = lognormal_sigma(median, p99);
                median.as_secs_f64() * (sigma * sigma / 2.0).exp()
            }
        };
        to_duration(seconds)
    }

    /// Draws one delay. Never negative, never longer than one year.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        let seconds = match *self {
            DelayModel::Fixed(d) => return d,
            DelayModel::Uniform { min, max } => {
                let (lo, hi) = (min.min(max), min.max(max));
                return rng.gen_range(lo..=hi);
            }
            DelayModel::Normal { mean, stddev } => {
                Normal::new(mean.as_secs_f64(), stddev.as_secs_f64())
                    .map_or(mean.as_secs_f64(), |n| n.sample(rng))
            }
            DelayModel::Exponential { mean } => {
                Exp::new(1.0 / mean.as_secs_f64()).map_or(0.0, |e| e.sample(rng))
            }
            DelayModel::LogNormal { median, p99 } => {
                let mu = median.as_secs_f64().ln();
                LogNormal::new(mu, lognormal_sigma(median, p99))
                    .map_or(median.as_secs_f64(), |l| l.sample(rng))
            }
        };
        to_duration(seconds)
    }
}

/// Converts seconds to a duration, mapping NaN and negatives to zero and
/// capping at [`MAX_DRAW`].
fn to_duration(seconds: f64) -> Duration {
    if seconds.is_nan() || seconds <= 0.0 {
        Duration::ZERO
    } else {
        Duration::try_from_secs_f64(seconds)
            .unwrap_or(MAX_DRAW)
            .min(MAX_DRAW)
    }
}

/// The sigma of a log-normal whose median and 99th percentile are given.
fn lognormal_sigma(median: Duration, p99: Duration) -> f64 {
    let ratio = p99.as_secs_f64() / median.as_secs_f64();
    if ratio.is_finite() && ratio > 1.0 {
        ratio.ln() / Z_P99
    } else {
        0.0
    }
}

/// Mean of `max(0, X)` for `X ~ Normal(mu, sigma)`: `mu Φ(mu/σ) + σ φ(mu/σ)`.
fn rectified_normal_mean(mu: f64, sigma: f64) -> f64 {
    if sigma <= 0.0 {
        return mu.max(0.0);
    }
    let z = mu / sigma;
    let pdf = (-z * z / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let cdf = 0.5 * (1.0 + erf(z / std::f64::consts::SQRT_2));
    mu * cdf + sigma * pdf
}

/// The error function (Abramowitz and Stegun 7.1.26, absolute error < 1.5e-7).
fn erf(x: f64) -> f64 {
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    sign * (1.0 - poly * (-x * x).exp())
}

impl FromStr for DelayModel {
    type Err = DelayError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| DelayError {
            input: input.to_string(),
            reason,
        };
        let text = input.trim();
        let Some((name, rest)) = text.split_once('(') else {
            return duration::parse(text)
                .map(DelayModel::Fixed)
                .map_err(|e| err(e.reason.to_string()));
        };
        let inner = rest
            .strip_suffix(')')
            .ok_or_else(|| err("the closing parenthesis is missing".into()))?;
        let args = inner
            .split(',')
            .map(|arg| duration::parse(arg).map_err(|e| format!("{:?}: {}", arg.trim(), e.reason)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        build(name.trim(), &args).map_err(err)
    }
}

/// Builds a model from its name and already parsed arguments.
fn build(name: &str, args: &[Duration]) -> Result<DelayModel, String> {
    let want = |n: usize, form: &str| {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!("{name} takes {n} argument(s): {form}"))
        }
    };
    match name {
        "uniform" => {
            want(2, "uniform(min, max)")?;
            if args[0] > args[1] {
                return Err("min must not be above max".into());
            }
            Ok(DelayModel::Uniform {
                min: args[0],
                max: args[1],
            })
        }
        "normal" => {
            want(2, "normal(mean, stddev)")?;
            Ok(DelayModel::Normal {
                mean: args[0],
                stddev: args[1],
            })
        }
        "exponential" => {
            want(1, "exponential(mean)")?;
            Ok(DelayModel::Exponential { mean: args[0] })
        }
        "lognormal" => {
            want(2, "lognormal(median, p99)")?;
            lognormal(args[0], args[1])
        }
        _ => Err(format!("{name:?} is not a delay model")),
    }
}

fn lognormal(median: Duration, p99: Duration) -> Result<DelayModel, String> {
    if median.is_zero() {
        return Err("the median must be above 0".into());
    }
    if p99 < median {
        return Err(format!(
            "the p99 ({}) must be at least the median ({})",
            duration::format(p99),
            duration::format(median)
        ));
    }
    Ok(DelayModel::LogNormal { median, p99 })
}

impl fmt::Display for DelayModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = |d: Duration| duration::format(d);
        match *self {
            DelayModel::Fixed(x) => write!(f, "{}", d(x)),
            DelayModel::Uniform { min, max } => write!(f, "uniform({}, {})", d(min), d(max)),
            DelayModel::Normal { mean, stddev } => {
                write!(f, "normal({}, {})", d(mean), d(stddev))
            }
            DelayModel::Exponential { mean } => write!(f, "exponential({})", d(mean)),
            DelayModel::LogNormal { median, p99 } => {
                write!(f, "lognormal({}, {})", d(median), d(p99))
            }
        }
    }
}

impl Serialize for DelayModel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DelayModel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A visitor (rather than deserializing a String first) lets the format
        // attach the position of the bad value to the error.
        deserializer.deserialize_any(DelayVisitor)
    }
}

struct DelayVisitor;

impl Visitor<'_> for DelayVisitor {
    type Value = DelayModel;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<DelayModel, E> {
        v.parse().map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<DelayModel, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<DelayModel, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<DelayModel, E> {
        self.visit_str(&v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    const N: usize = 20_000;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// Draws `N` seeded samples, sorted, in milliseconds.
    fn draws(model: &str) -> Vec<f64> {
        let model: DelayModel = model.parse().unwrap();
        let mut rng = SmallRng::seed_from_u64(7);
        let mut v: Vec<f64> = (0..N)
            .map(|_| model.sample(&mut rng).as_secs_f64() * 1e3)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    fn mean(v: &[f64]) -> f64 {
        v.iter().sum::<f64>() / v.len() as f64
    }

    fn quantile(v: &[f64], q: f64) -> f64 {
        v[((v.len() as f64 - 1.0) * q) as usize]
    }

    fn stddev(v: &[f64]) -> f64 {
        let m = mean(v);
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
    }

    fn close(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "{actual} is not within {tolerance} of {expected}"
        );
    }

    #[test]
    fn parses_every_form() {
        assert_eq!("200ms".parse(), Ok(DelayModel::Fixed(ms(200))));
        assert_eq!("0".parse(), Ok(DelayModel::Fixed(Duration::ZERO)));
        assert_eq!(
            " uniform( 10ms ,30ms ) ".parse(),
            Ok(DelayModel::Uniform {
                min: ms(10),
                max: ms(30)
            })
        );
        assert_eq!(
            "normal(20ms, 5ms)".parse(),
            Ok(DelayModel::Normal {
                mean: ms(20),
                stddev: ms(5)
            })
        );
        assert_eq!(
            "exponential(20ms)".parse(),
            Ok(DelayModel::Exponential { mean: ms(20) })
        );
        assert_eq!(
            "lognormal(20ms, 100ms)".parse(),
            Ok(DelayModel::LogNormal {
                median: ms(20),
                p99: ms(100)
            })
        );
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "200ms",
            "uniform(10ms, 30ms)",
            "normal(20ms, 5ms)",
            "exponential(1.5s)",
            "lognormal(20ms, 100ms)",
        ] {
            let model: DelayModel = text.parse().unwrap();
            assert_eq!(model.to_string(), text);
        }
    }

    #[test]
    fn rejects_bad_text_with_a_reason() {
        for (input, reason) in [
            ("-5ms", "durations cannot be negative"),
            ("fast", "the number is missing"),
            ("uniform(30ms, 10ms)", "min must not be above max"),
            (
                "uniform(10ms)",
                "uniform takes 2 argument(s): uniform(min, max)",
            ),
            ("normal(20ms, 5ms", "the closing parenthesis is missing"),
            ("gamma(1s)", "\"gamma\" is not a delay model"),
            ("exponential(x)", "\"x\": the number is missing"),
            (
                "lognormal(100ms, 20ms)",
                "the p99 (20ms) must be at least the median (100ms)",
            ),
            ("lognormal(0s, 20ms)", "the median must be above 0"),
        ] {
            let err = input.parse::<DelayModel>().unwrap_err();
            assert_eq!(err.reason, reason, "input {input:?}");
        }
    }

    #[test]
    fn fixed_is_always_the_same() {
        let v = draws("25ms");
        assert_eq!(v[0], 25.0);
        assert_eq!(v[N - 1], 25.0);
    }

    #[test]
    fn uniform_stays_in_range_with_the_right_mean() {
        let v = draws("uniform(10ms, 30ms)");
        assert!(v[0] >= 10.0 && v[N - 1] <= 30.0);
        close(mean(&v), 20.0, 0.3);
        close(quantile(&v, 0.25), 15.0, 0.5);
    }

    #[test]
    fn normal_has_its_mean_and_stddev() {
        let v = draws("normal(20ms, 5ms)");
        close(mean(&v), 20.0, 0.2);
        close(stddev(&v), 5.0, 0.2);
    }

    #[test]
    fn normal_is_never_below_zero_and_mean_accounts_for_the_cut() {
        let v = draws("normal(1ms, 5ms)");
        assert!(v[0] >= 0.0);
        let model: DelayModel = "normal(1ms, 5ms)".parse().unwrap();
        close(mean(&v), model.mean().as_secs_f64() * 1e3, 0.1);
    }

    #[test]
    fn exponential_has_its_mean_and_median() {
        let v = draws("exponential(20ms)");
        close(mean(&v), 20.0, 0.6);
        close(quantile(&v, 0.5), 20.0 * 2f64.ln(), 0.6);
    }

    #[test]
    fn lognormal_has_its_median_and_p99() {
        let v = draws("lognormal(20ms, 100ms)");
        close(quantile(&v, 0.5), 20.0, 0.6);
        close(quantile(&v, 0.99), 100.0, 8.0);
        let model: DelayModel = "lognormal(20ms, 100ms)".parse().unwrap();
        close(mean(&v), model.mean().as_secs_f64() * 1e3, 1.0);
    }

    #[test]
    fn mean_of_each_model() {
        let mean_ms = |s: &str| s.parse::<DelayModel>().unwrap().mean().as_secs_f64() * 1e3;
        close(mean_ms("200ms"), 200.0, 1e-9);
        close(mean_ms("uniform(10ms, 30ms)"), 20.0, 1e-9);
        close(mean_ms("normal(20ms, 5ms)"), 20.0, 1e-3);
        close(mean_ms("exponential(20ms)"), 20.0, 1e-9);
        close(mean_ms("lognormal(20ms, 20ms)"), 20.0, 1e-9);
    }

    #[test]
    fn hand_built_nonsense_never_panics() {
        let mut rng = SmallRng::seed_from_u64(1);
        for model in [
            DelayModel::Uniform {
                min: ms(30),
                max: ms(10),
            },
            DelayModel::Exponential {
                mean: Duration::ZERO,
            },
            DelayModel::LogNormal {
                median: Duration::ZERO,
                p99: ms(1),
            },
            DelayModel::LogNormal {
                median: Duration::from_nanos(1),
                p99: Duration::from_secs(365 * 86_400),
            },
        ] {
            for _ in 0..1000 {
                assert!(model.sample(&mut rng) <= MAX_DRAW);
            }
            let _ = model.mean();
        }
    }
}
