//! The one vocabulary of metrics: every number a user can name in a
//! `checks:` expression or in `compare --max-regression`, and the table's
//! latency and throughput columns.
//!
//! Each [`Metric`] has a name (as users write it), a [`Kind`] (which decides
//! its unit and the values it accepts), a direction ([`Better`]), a reader
//! that takes it from a [`CaseResult`], and a formatter. A metric added to
//! [`Metric::ALL`] (and to the `match`es below, which the compiler points
//! at) is at once a check metric and, unless it is a count, a `compare`
//! tolerance name.
//!
//! | metric                                       | kind     | better | compared |
//! |----------------------------------------------|----------|--------|----------|
//! | `p50` `p90` `p99` `p99.9` `mean` `min` `max` | duration | lower  | yes      |
//! | `wall`                                       | duration | lower  | yes      |
//! | `throughput`                                 | rate     | higher | yes      |
//! | `error_rate`                                 | fraction | lower  | yes      |
//! | `requests` `ok`                              | count    | higher | no       |
//! | `errors` `skipped` `late`                    | count    | lower  | no       |
//! | `rejected` `dropped` `timed_out`             | count    | lower  | no       |
//!
//! Counts are not compared ([`Metric::comparable`]): they grow with the
//! length of a case rather than with the speed of the code, and the error
//! rate is their comparable form. Which comparable metrics `compare` judges
//! when not told otherwise is its own policy
//! ([`crate::compare::DEFAULT_TOLERANCES`]).

use std::cmp::Ordering;
use std::fmt;
use std::time::Duration;

use crate::results::{human_us, CaseResult, ServerView};

/// A number measured for each case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// Median latency of successful requests.
    P50,
    /// 90th percentile latency.
    P90,
    /// 99th percentile latency.
    P99,
    /// 99.9th percentile latency.
    P999,
    /// Mean latency.
    Mean,
    /// The fastest request.
    Min,
    /// The slowest request.
    Max,
    /// Wall time of the measured phase.
    Wall,
    /// Successful requests per second of wall time.
    Throughput,
    /// Failed requests over sent requests.
    ErrorRate,
    /// Requests sent.
    Requests,
    /// Successful requests.
    Ok,
    /// Failed requests, every kind together.
    Errors,
    /// Open loop: intended sends never made.
    Skipped,
    /// Open loop: sends made late.
    Late,
    /// Answered with the reject status by the embedded server.
    Rejected,
    /// Closed without an answer by the embedded server.
    Dropped,
    /// Gave up waiting in the embedded server's queue.
    TimedOut,
}

/// The kind of value a metric has: it decides the unit and the values a
/// check accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A duration (read in microseconds as a plain number).
    Duration,
    /// Per second.
    Rate,
    /// A fraction between 0 and 1 (shown in percent).
    Fraction,
    /// A whole number.
    Count,
}

/// Which way a metric gets better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Higher is better (throughput).
    Higher,
    /// Lower is better (latency, errors).
    Lower,
}

/// Why a metric has no value for a case. Displays as the reason a check
/// shows in `n/a (reason)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Missing {
    /// No request succeeded, so there is no latency.
    #[error("no request succeeded")]
    NoLatency,
    /// No request was sent, so there is no error rate.
    #[error("no request was sent")]
    NothingSent,
    /// The wall time is negative or not a number.
    #[error("the wall time is not a valid duration")]
    BadWall,
    /// The target is not the embedded server.
    #[error("no server view: the target is not the embedded server")]
    NoServer,
    /// There is no model: the target is not the embedded server, or the
    /// embedded server has routes or pools (requests served by rules of
    /// their own, which one delay and one capacity do not describe).
    #[error("no model: the target is not the embedded server, or the server has routes or pools")]
    NoModel,
    /// The model has no wall time for an open-loop case.
    #[error("the model has no wall time for an open-loop case")]
    NoModelWall,
    /// Zero delay: the model's throughput has no bound.
    #[error("the model's throughput is unbounded (zero delay)")]
    UnboundedModel,
    /// The metric has no model counterpart at all.
    #[error("this metric has no model counterpart")]
    NoModelCounterpart,
    /// A multiple of the model's value is too large to hold.
    #[error("the multiple of the model is out of range")]
    ModelOutOfRange,
}

/// A measured value in its metric's kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// A duration.
    Duration(Duration),
    /// Per second.
    Rate(f64),
    /// A fraction (0.004 is 0.4%).
    Fraction(f64),
    /// A whole number.
    Count(u64),
}

impl Metric {
    /// Every metric, in the order messages list them.
    pub const ALL: [Metric; 18] = [
        Metric::P50,
        Metric::P90,
        Metric::P99,
        Metric::P999,
        Metric::Mean,
        Metric::Min,
        Metric::Max,
        Metric::Wall,
        Metric::Throughput,
        Metric::ErrorRate,
        Metric::Requests,
        Metric::Ok,
        Metric::Errors,
        Metric::Skipped,
        Metric::Late,
        Metric::Rejected,
        Metric::Dropped,
        Metric::TimedOut,
    ];

    /// The name users write, in checks and in `--max-regression`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::P50 => "p50",
            Metric::P90 => "p90",
            Metric::P99 => "p99",
            Metric::P999 => "p99.9",
            Metric::Mean => "mean",
            Metric::Min => "min",
            Metric::Max => "max",
            Metric::Wall => "wall",
            Metric::Throughput => "throughput",
            Metric::ErrorRate => "error_rate",
            Metric::Requests => "requests",
            Metric::Ok => "ok",
            Metric::Errors => "errors",
            Metric::Skipped => "skipped",
            Metric::Late => "late",
            Metric::Rejected => "rejected",
            Metric::Dropped => "dropped",
            Metric::TimedOut => "timed_out",
        }
    }

    /// The metric of this name, if there is one.
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The kind of value it has.
    pub fn kind(self) -> Kind {
        match self {
            Metric::P50
            | Metric::P90
            | Metric::P99
            | Metric::P999
            | Metric::Mean
            | Metric::Min
            | Metric::Max
            | Metric::Wall => Kind::Duration,
            Metric::Throughput => Kind::Rate,
            Metric::ErrorRate => Kind::Fraction,
            Metric::Requests
            | Metric::Ok
            | Metric::Errors
            | Metric::Skipped
            | Metric::Late
            | Metric::Rejected
            | Metric::Dropped
            | Metric::TimedOut => Kind::Count,
        }
    }

    /// The unit of [`Metric::number`], as `compare --format csv` writes it.
    pub fn unit(self) -> &'static str {
        match self.kind() {
            Kind::Duration => "us",
            Kind::Rate => "req/s",
            Kind::Fraction => "fraction",
            Kind::Count => "count",
        }
    }

    /// Which way it gets better.
    pub fn better(self) -> Better {
        match self {
            Metric::Throughput | Metric::Requests | Metric::Ok => Better::Higher,
            _ => Better::Lower,
        }
    }

    /// Whether `compare` accepts it as a tolerance name: every metric but
    /// the counts (see the module documentation).
    pub fn comparable(self) -> bool {
        self.kind() != Kind::Count
    }

    /// Whether the queueing model predicts it, so a check may say `model`.
    pub fn has_model(self) -> bool {
        matches!(self.kind(), Kind::Duration | Kind::Rate)
    }

    /// Its value for one case, or why there is none.
    pub fn value(self, r: &CaseResult) -> Result<Value, Missing> {
        let latency = |f: fn(&crate::results::Latency) -> f64| {
            let l = r.latency.as_ref().ok_or(Missing::NoLatency)?;
            Ok(Value::Duration(Duration::from_nanos(
                (f(l) * 1e3).round() as u64
            )))
        };
        let server = |f: fn(&ServerView) -> u64| {
            r.server
                .as_ref()
                .map(|s| Value::Count(f(s)))
                .ok_or(Missing::NoServer)
        };
        match self {
            Metric::P50 => latency(|l| l.p50 as f64),
            Metric::P90 => latency(|l| l.p90 as f64),
            Metric::P99 => latency(|l| l.p99 as f64),
            Metric::P999 => latency(|l| l.p999 as f64),
            Metric::Mean => latency(|l| l.mean),
            Metric::Min => latency(|l| l.min as f64),
            Metric::Max => latency(|l| l.max as f64),
            Metric::Wall => Duration::try_from_secs_f64(r.wall_seconds)
                .map(Value::Duration)
                .map_err(|_| Missing::BadWall),
            Metric::Throughput => Ok(Value::Rate(r.throughput)),
            Metric::ErrorRate if r.requests == 0 => Err(Missing::NothingSent),
            Metric::ErrorRate => Ok(Value::Fraction(r.error_rate())),
            Metric::Requests => Ok(Value::Count(r.requests)),
            Metric::Ok => Ok(Value::Count(r.ok)),
            Metric::Errors => Ok(Value::Count(r.error_count())),
            Metric::Skipped => Ok(Value::Count(r.skipped_sends)),
            Metric::Late => Ok(Value::Count(r.late_sends)),
            Metric::Rejected => server(|s| s.rejected),
            Metric::Dropped => server(|s| s.dropped),
            Metric::TimedOut => server(|s| s.timed_out),
        }
    }

    /// Its value for one case as a plain number in [`Metric::unit`];
    /// `None` when there is none or it is not finite.
    pub fn number(self, r: &CaseResult) -> Option<f64> {
        self.value(r)
            .ok()
            .map(Value::number)
            .filter(|v| v.is_finite())
    }

    /// The queueing model's value for it, or why there is none: the model's
    /// mean latency for every latency statistic, its wall time, its
    /// throughput.
    pub fn model(self, r: &CaseResult) -> Result<Value, Missing> {
        let model = r.model.as_ref().ok_or(Missing::NoModel)?;
        match self {
            Metric::Wall => model.wall.map(Value::Duration).ok_or(Missing::NoModelWall),
            _ if self.kind() == Kind::Duration => Ok(Value::Duration(model.latency)),
            Metric::Throughput if model.throughput.is_finite() => Ok(Value::Rate(model.throughput)),
            Metric::Throughput => Err(Missing::UnboundedModel),
            _ => Err(Missing::NoModelCounterpart),
        }
    }

    /// A number in [`Metric::unit`], for tables: `212.0ms`, `903.1/s`,
    /// `0.40%`, `12`.
    pub fn human(self, value: f64) -> String {
        match self.kind() {
            Kind::Duration => human_us(value.round() as u64),
            Kind::Rate => format!("{value:.1}/s"),
            Kind::Fraction => format!("{:.2}%", value * 100.0),
            Kind::Count => format!("{value}"),
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Value {
    /// The value as a plain number: microseconds, per second, a fraction,
    /// a count.
    pub fn number(self) -> f64 {
        match self {
            Value::Duration(d) => d.as_nanos() as f64 / 1e3,
            Value::Rate(x) | Value::Fraction(x) => x,
            Value::Count(n) => n as f64,
        }
    }

    /// Orders two values of the same kind; `None` for different kinds or NaN.
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Duration(a), Value::Duration(b)) => Some(a.cmp(b)),
            (Value::Count(a), Value::Count(b)) => Some(a.cmp(b)),
            (Value::Rate(a), Value::Rate(b)) => a.partial_cmp(b),
            (Value::Fraction(a), Value::Fraction(b)) => a.partial_cmp(b),
            _ => None,
        }
    }

    /// This value times `factor`; `None` when the result is out of range.
    pub fn scale(self, factor: f64) -> Option<Value> {
        let scaled = match self {
            Value::Duration(d) => {
                Value::Duration(Duration::try_from_secs_f64(d.as_secs_f64() * factor).ok()?)
            }
            Value::Rate(r) => Value::Rate(r * factor),
            Value::Fraction(f) => Value::Fraction(f * factor),
            Value::Count(n) => {
                Value::Count(u64::try_from((n as f64 * factor).round() as u128).ok()?)
            }
        };
        Some(scaled)
    }
}

/// In the grammar checks read: `212ms`, `903.1/s`, `0.40%`, `12`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Duration(d) => f.write_str(&format_duration(*d)),
            Value::Rate(r) => write!(f, "{r:.1}/s"),
            Value::Fraction(x) => write!(f, "{:.2}%", x * 100.0),
            Value::Count(n) => write!(f, "{n}"),
        }
    }
}

/// Durations to the microsecond, in the grammar the checks read.
fn format_duration(d: Duration) -> String {
    let us = Duration::from_micros((d.as_nanos() as f64 / 1e3).round() as u64);
    mock_server::duration::format(us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_read_back() {
        for m in Metric::ALL {
            assert_eq!(Metric::from_name(m.name()), Some(m), "{m}");
        }
        let mut names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Metric::ALL.len());
        assert_eq!(Metric::from_name("p95"), None);
    }

    #[test]
    fn counts_are_not_compared_and_everything_else_is() {
        let compared: Vec<&str> = Metric::ALL
            .iter()
            .filter(|m| m.comparable())
            .map(|m| m.name())
            .collect();
        assert_eq!(
            compared,
            [
                "p50",
                "p90",
                "p99",
                "p99.9",
                "mean",
                "min",
                "max",
                "wall",
                "throughput",
                "error_rate"
            ]
        );
        assert_eq!(Metric::Throughput.better(), Better::Higher);
        assert_eq!(Metric::P99.better(), Better::Lower);
    }

    /// One list for both: every metric parses in a check, and every metric
    /// but the counts is a `--max-regression` name.
    #[test]
    fn every_metric_is_a_check_metric_and_a_tolerance_name_unless_a_count() {
        for m in Metric::ALL {
            let value = match m.kind() {
                Kind::Duration => "1s",
                Kind::Rate => "1/s",
                Kind::Fraction => "1%",
                Kind::Count => "1",
            };
            let check = crate::checks::parse(&format!("{m} < {value}"));
            assert!(check.is_ok(), "{m}: {check:?}");
            let tolerance = crate::compare::parse_tolerances(&format!("{m}=7%"));
            if m.comparable() {
                let t = tolerance.unwrap_or_else(|e| panic!("{m}: {e}"));
                assert_eq!(t.get(m), Some(0.07), "{m}");
                assert!(t.metrics().contains(&m), "{m}");
            } else {
                assert!(tolerance.is_err(), "{m} is a count");
            }
        }
    }

    #[test]
    fn numbers_are_in_the_metric_unit() {
        let r = CaseResult {
            requests: 1000,
            ok: 996,
            wall_seconds: 2.5,
            throughput: 398.4,
            latency: Some(crate::results::Latency {
                min: 200_100,
                mean: 201_500.4,
                p50: 200_700,
                p90: 203_000,
                p99: 212_000,
                p999: 230_000,
                max: 250_000,
            }),
            ..CaseResult::default()
        };
        let table = [
            (Metric::P50, Some(200_700.0), "200.7ms"),
            (Metric::P999, Some(230_000.0), "230.0ms"),
            (Metric::Mean, Some(201_500.4), "201.5ms"),
            (Metric::Wall, Some(2_500_000.0), "2.500s"),
            (Metric::Throughput, Some(398.4), "398.4/s"),
            (Metric::ErrorRate, Some(0.0), "0.00%"),
            (Metric::Ok, Some(996.0), "996"),
            (Metric::Rejected, None, "-"),
        ];
        for (metric, number, human) in table {
            let got = metric.number(&r);
            assert_eq!(got, number, "{metric}");
            assert_eq!(
                got.map_or("-".into(), |v| metric.human(v)),
                human,
                "{metric}"
            );
        }
        assert_eq!(
            Metric::Rejected.value(&r),
            Err(Missing::NoServer),
            "no server view"
        );
    }
}
